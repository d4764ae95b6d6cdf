"""What pybox2d's compiled 1 m/s restitution threshold changes in phyre scenes (issue 12, SC A.4 / A.8).

    python benchmarks/phyre_physics_diff.py                       # 200 scenes, 50 frames (several minutes)
    python benchmarks/phyre_physics_diff.py --scenes 40           # quicker
    python benchmarks/phyre_physics_diff.py --save wheel.json     # keep per-scene results ...
    PYTHONPATH=/path/to/other/Box2D python benchmarks/phyre_physics_diff.py --save other.json
    python benchmarks/phyre_physics_diff.py --compare wheel.json other.json   # ... and compare two builds

PHYRE's fork of Box2D applies restitution when a contact point approaches faster than 0.1 m/s; the PyPI wheel
(``box2d`` 2.3.10) only above its compiled 1 m/s. Over the same layouts (the first N rows of
``eval-in-template-small``: trial 990 of tasks 0-9 of the 60 training templates, seed 0; N distinct tasks)
and 50 frames (the release's 1000 steps), this measures:

(a) every touching contact point's approach speed in every step, as the velocity solver sees it (relative
    velocity at the point along the manifold normal, after this step's gravity kick, read in PreSolve):
    new points (impacts) and persistent ones (resting contacts), binned < 0.1, [0.1, 1), >= 1 m/s. Points in
    [0.1, 1) are where the fork adds a restitution bias and the wheel does not;
(b) the same scenes with restitution 0 on every fixture against the default 0.2: rebounds (a point that
    came in at >= 0.1 m/s and leaves separating at > 0.05 m/s, PostSolve), settling frame (first frame after
    which every dynamic body moves slower than 0.05 m/s and turns slower than 0.05 rad/s), bodies asleep at
    the end, and the red ball's position difference at frames 31 and 49 (in 256² pixels) — removing every
    bounce bounds what removing the [0.1, 1) ones can do; a 1e-3-unit nudge of the red ball's start shows how
    much of such a difference is the scenes' own sensitivity rather than the bounces;
(c) ``--compare``: two saved runs (e.g. the wheel and a build whose threshold is 0.1 m/s) scene by scene.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

SPLIT = "eval-in-template-small"
SEED = 0
N_FRAMES = 50
BINS = (0.1, 1.0)  # m/s: the fork's and the wheel's restitution thresholds
SETTLE_V = 0.05  # m/s
SETTLE_W = 0.05  # rad/s
REBOUND_V = 0.05  # m/s separating after the solve
NUDGE = 1e-3  # scene units added to the red ball's start x (above float32 resolution; 1/2000 px at 256²)
PX_256 = 0.5  # 256² pixels per scene unit


class Probe:
    """Per step: approach speed of every touching contact point (PreSolve) and rebounds (PostSolve)."""

    def __init__(self) -> None:
        self.hist = {"new": np.zeros(3, np.int64), "persistent": np.zeros(3, np.int64)}
        self.rebounds = np.zeros(3, np.int64)  # by approach bin of the rebounding point
        self._pre: dict = {}

    def begin_step(self) -> None:
        self._pre.clear()


def make_probe(Box2D, gravity_kick: float):
    """A b2ContactListener subclass instance recording approach speeds (Box2D module given: any build)."""

    class _Probe(Box2D.b2ContactListener):
        def __init__(self) -> None:
            super().__init__()
            self.data = Probe()

        def _normal_speeds(self, contact, kick: bool) -> list[tuple[object, float]]:
            wm = contact.worldManifold
            n = wm.normal
            fa, fb = contact.fixtureA, contact.fixtureB
            ba, bb = fa.body, fb.body
            out = []
            pts = contact.manifold.points
            for i in range(contact.manifold.pointCount):
                p = wm.points[i]
                va = ba.GetLinearVelocityFromWorldPoint(p)
                vb = bb.GetLinearVelocityFromWorldPoint(p)
                dvx, dvy = vb[0] - va[0], vb[1] - va[1]
                if kick:  # the gravity kick the solver applies before it reads vRel
                    ka = gravity_kick if ba.type == Box2D.b2_dynamicBody and ba.awake else 0.0
                    kb = gravity_kick if bb.type == Box2D.b2_dynamicBody and bb.awake else 0.0
                    dvy += kb - ka
                key = (fa.userData, fb.userData, pts[i].id.key)
                out.append((key, dvx * n[0] + dvy * n[1]))
            return out

        def PreSolve(self, contact, old_manifold) -> None:
            old = {old_manifold.points[i].id.key for i in range(old_manifold.pointCount)}
            d = self.data
            for key, vn in self._normal_speeds(contact, True):
                approach = -vn
                b = int(approach >= BINS[0]) + int(approach >= BINS[1])
                d.hist["persistent" if key[2] in old else "new"][b] += 1
                if approach >= BINS[0]:
                    d._pre[key] = b

        def PostSolve(self, contact, _impulse) -> None:
            d = self.data
            if not d._pre:
                return
            for key, vn in self._normal_speeds(contact, False):
                b = d._pre.get(key)
                if b is not None and vn > REBOUND_V:
                    d.rebounds[b] += 1

    return _Probe()


def scenes(n: int) -> list:
    from phylaw import sim
    from phylaw.sim.phyre import engine
    from phylaw.sim.phyre.actions import check_action
    from phylaw.sim.phyre.templates import build_task

    rows = sim.get_split("phyre", SPLIT, n_frames=N_FRAMES).params(0, n).astype(np.int64)
    out = []
    for tpl, task, trial in rows.tolist():
        bodies = build_task(tpl, task, SEED)
        action = engine.trial_action(tpl, task, trial, SEED, bodies)
        out.append((tpl, task, trial, bodies, check_action(bodies, action)))
    return out


def simulate(bodies, ball, restitution: float | None, probe: bool) -> dict:
    """50 frames (frame k after 20k + 1 steps) of the engine's world, restitution optionally overridden."""
    import Box2D

    from phylaw.sim.phyre import engine

    world, b2bodies, _ = engine.build_world(bodies, ball)
    for i, b in enumerate(world.bodies):
        for j, f in enumerate(b.fixtures):
            f.userData = (b.userData if b.userData is not None else -1 - i, j)
            if restitution is not None:
                f.restitution = restitution
    listener = make_probe(Box2D, engine.GRAVITY * engine.TIME_STEP) if probe else None
    if listener is not None:
        world.contactListener = listener
    dyn = [i for i, b in enumerate([*bodies, ball]) if b.dynamic]
    pos = np.empty((N_FRAMES, len(b2bodies), 2))
    speed = np.empty((N_FRAMES, len(dyn)))
    spin = np.empty((N_FRAMES, len(dyn)))
    step = 0
    for k in range(N_FRAMES):
        while step < engine.STRIDE * k + 1:
            if listener is not None:
                listener.data.begin_step()
            world.Step(engine.TIME_STEP, engine.VELOCITY_ITERATIONS, engine.POSITION_ITERATIONS)
            step += 1
        for i, b in enumerate(b2bodies):
            pos[k, i] = (b.position[0] * engine.PIXELS_PER_METER, b.position[1] * engine.PIXELS_PER_METER)
        for j, i in enumerate(dyn):
            v = b2bodies[i].linearVelocity
            speed[k, j] = math.hypot(v[0], v[1])
            spin[k, j] = abs(b2bodies[i].angularVelocity)
    moving = (speed >= SETTLE_V) | (spin >= SETTLE_W)  # (T, dyn)
    any_moving = moving.any(axis=1)
    settle = int(np.nonzero(any_moving)[0].max() + 1) if any_moving.any() else 0  # N_FRAMES: never settled
    last = np.where(moving.any(axis=0), N_FRAMES - np.argmax(moving[::-1], axis=0), 0)  # per body
    out = {
        "ball": pos[:, -1].tolist(),
        "dynamic": pos[:, dyn].tolist(),
        "settle": settle,
        "settle_bodies": last.tolist(),
        "asleep_end": int(sum(not b2bodies[i].awake for i in dyn)),
        "n_dynamic": len(dyn),
    }
    if listener is not None:
        d = listener.data
        out["new"], out["persistent"] = d.hist["new"].tolist(), d.hist["persistent"].tolist()
        out["rebounds"] = d.rebounds.tolist()
    return out


def run(n: int) -> dict:
    import Box2D

    t0 = time.time()
    results = []
    for tpl, task, trial, bodies, ball in scenes(n):
        nudged = replace(ball, position=(ball.position[0] + NUDGE, ball.position[1]))
        results.append(
            {
                "row": (tpl, task, trial),
                "default": simulate(bodies, ball, None, True),
                "r0": simulate(bodies, ball, 0.0, True),
                "nudge": simulate(bodies, nudged, None, False),
            }
        )
    return {
        "box2d": {
            "version": Box2D.__version__,
            "file": Box2D.__file__,
            "velocityThreshold": getattr(Box2D, "b2_velocityThreshold", None),
        },
        "split": SPLIT,
        "seed": SEED,
        "n_frames": N_FRAMES,
        "seconds": time.time() - t0,
        "scenes": results,
    }


# ------------------------------------------------------------------ report


def q(values, p=(50, 90, 99)) -> str:
    v = np.asarray(values, float)
    return " / ".join(f"{np.percentile(v, x):.2f}" for x in p)


def ball_diff(a: dict, b: dict, k: int) -> float:
    return float(np.hypot(*(np.asarray(a["ball"][k]) - np.asarray(b["ball"][k]))) * PX_256)


def summary(sc: list, key: str) -> list[tuple[str, str]]:
    """(label, value) rows of one run ``key`` ("default", "r0") over the scenes."""
    runs = [s[key] for s in sc]
    n = len(runs)
    bodies = np.concatenate([r["settle_bodies"] for r in runs])
    per = lambda name, b: f"{np.mean([r[name][b] for r in runs]):.2f}"  # noqa: E731
    return [
        ("impacts (new contact points) in [0.1, 1) m/s, per video", per("new", 1)),
        ("impacts ≥ 1 m/s, per video", per("new", 2)),
        ("resting/sliding contact-point steps in [0.1, 1) m/s, per video", per("persistent", 1)),
        ("rebounds from [0.1, 1) m/s, per video", per("rebounds", 1)),
        ("rebounds from ≥ 1 m/s, per video", per("rebounds", 2)),
        ("scene settling frame, median / 90th pct", q([r["settle"] for r in runs], (50, 90))),
        ("scenes still moving at frame 31 / 49", f"{sum(r['settle'] > 31 for r in runs)} / "
                                                 f"{sum(r['settle'] >= N_FRAMES for r in runs)} of {n}"),
        ("body settling frame, median / 90th pct", q(bodies, (50, 90))),
        ("dynamic bodies still moving at frame 31 / 49", f"{int((bodies > 31).sum())} / "
                                                         f"{int((bodies >= N_FRAMES).sum())} of {len(bodies)}"),
        ("dynamic bodies asleep at frame 49", f"{sum(r['asleep_end'] for r in runs)} of {len(bodies)}"),
    ]  # fmt: skip


def table(sc_a: list, key_a: str, sc_b: list, key_b: str, head: tuple[str, str]) -> None:
    print(f"| quantity | {head[0]} | {head[1]} |")
    print("| --- | ---: | ---: |")
    for (label, va), (_, vb) in zip(summary(sc_a, key_a), summary(sc_b, key_b), strict=True):
        print(f"| {label} | {va} | {vb} |")


def ball_rows(pairs: list[tuple[dict, dict]], label: str) -> str:
    d31 = [ball_diff(a, b, 31) for a, b in pairs]
    d49 = [ball_diff(a, b, 49) for a, b in pairs]
    return f"| {label} | {q(d31)} | {q(d49)} | {sum(x > 1 for x in d31)} of {len(pairs)} |"


BALL_HEAD = (
    "| comparison | frame 31: median / 90th / 99th | frame 49: median / 90th / 99th | videos > 1 px at frame 31 |\n"
    "| --- | ---: | ---: | ---: |"
)


def report(res: dict) -> None:
    sc = res["scenes"]
    n = len(sc)
    templates = len({s["row"][0] for s in sc})
    print(f"Box2D {res['box2d']['version']} ({res['box2d']['file']}), {n} scenes of {res['split']} "
          f"({templates} templates, seed {res['seed']}), {res['n_frames']} frames, {res['seconds']:.0f} s\n")  # fmt: skip
    print("(a) contact-point approach speeds per solver step (restitution 0.2), totals over all scenes\n")
    print(
        "| contact points | < 0.1 m/s | [0.1, 1) m/s: the fork bounces, the wheel does not | ≥ 1 m/s: both |"
    )
    print("| --- | ---: | ---: | ---: |")
    for kind in ("new", "persistent"):
        h = np.sum([s["default"][kind] for s in sc], axis=0)
        label = "new (impacts)" if kind == "new" else "persistent (resting / sliding)"
        print(f"| {label} | {h[0]:,} | {h[1]:,} | {h[2]:,} |")
    impacts = np.array([s["default"]["new"][1] for s in sc])
    print(f"\nvideos without any [0.1, 1) m/s impact: {int((impacts == 0).sum())} of {n}\n")
    print("(b) restitution 0 on every fixture vs the default 0.2 (this build, same scenes)\n")
    table(sc, "default", sc, "r0", ("restitution 0.2", "restitution 0"))
    print("\nred ball position difference, 256² pixels, over videos:\n")
    print(BALL_HEAD)
    print(ball_rows([(s["default"], s["r0"]) for s in sc], "restitution 0 vs 0.2"))
    print(ball_rows([(s["default"], s["nudge"]) for s in sc], f"red ball start nudged by {NUDGE:g} units"))


def compare(a_path: Path, b_path: Path) -> None:
    a, b = (json.loads(Path(p).read_text()) for p in (a_path, b_path))
    sa, sb = a["scenes"], b["scenes"]
    if [s["row"] for s in sa] != [s["row"] for s in sb]:
        raise SystemExit("the two runs hold different scenes")
    n = len(sa)
    print(f"A: Box2D {a['box2d']['version']} {a['box2d']['file']}\nB: Box2D {b['box2d']['version']} "
          f"{b['box2d']['file']}\n{n} scenes, restitution 0.2 in both\n")  # fmt: skip
    same = sum(
        x["default"]["ball"] == y["default"]["ball"] and x["default"]["dynamic"] == y["default"]["dynamic"]
        for x, y in zip(sa, sb, strict=True)
    )
    print(f"videos with bit-identical trajectories (every dynamic body, 50 frames): {same} of {n}\n")
    table(sa, "default", sb, "default", ("A", "B"))
    print("\nred ball position difference, 256² pixels, over videos:\n")
    print(BALL_HEAD)
    pairs = list(zip(sa, sb, strict=True))
    print(ball_rows([(x["default"], y["default"]) for x, y in pairs], "B vs A (restitution 0.2)"))
    print(ball_rows([(x["default"], x["r0"]) for x in sa], "A: restitution 0 vs 0.2"))
    print(ball_rows([(x["default"], x["nudge"]) for x in sa], f"A: red ball start nudged by {NUDGE:g} units"))
    print(ball_rows([(x["default"], x["nudge"]) for x in sb], f"B: red ball start nudged by {NUDGE:g} units"))
    print("\nevery dynamic body (256² pixels):\n")
    print("| quantity | median / 90th / 99th | bodies > 1 px |")
    print("| --- | ---: | ---: |")
    for k in (31, 49):
        d = np.concatenate([body_diff(x["default"], y["default"], k) for x, y in pairs])
        print(f"| B vs A, position at frame {k} | {q(d)} | {int((d > 1).sum())} of {len(d)} |")
    for label, s in (("A", sa), ("B", sb)):
        c = np.concatenate([creep(x["default"], 40, 49) for x in s])
        print(
            f"| {label}: largest displacement over frames 40-49 | {q(c)} | {int((c > 1).sum())} of {len(c)} |"
        )


def body_diff(a: dict, b: dict, k: int) -> np.ndarray:
    """Per dynamic body: distance between the two runs' positions at frame k, 256² pixels."""
    return np.linalg.norm(np.asarray(a["dynamic"][k]) - np.asarray(b["dynamic"][k]), axis=-1) * PX_256


def creep(run: dict, k0: int, k1: int) -> np.ndarray:
    """Per dynamic body: the largest distance from its frame-k0 position over frames k0..k1, 256² pixels."""
    seg = np.asarray(run["dynamic"][k0 : k1 + 1])
    return np.linalg.norm(seg - seg[0], axis=-1).max(axis=0) * PX_256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=200)
    parser.add_argument("--save", type=Path, help="write the per-scene results as JSON")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("A", "B"), help="compare two saved runs")
    args = parser.parse_args()
    if args.compare:
        compare(*args.compare)
        return
    res = run(args.scenes)
    if args.save:
        args.save.write_text(json.dumps(res))
    report(res)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
