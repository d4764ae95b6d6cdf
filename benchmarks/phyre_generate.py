"""PHYRE-style dataset generation on one core: phylaw vs the release's method, ratios within one run.

    python benchmarks/phyre_generate.py                # 48 videos per method, 480 for procedural/bare
    python benchmarks/phyre_generate.py --videos 24 --long 0   # quicker, noisier
    python benchmarks/phyre_generate.py --profile      # plus cProfile of the phylaw paths (stderr)
    python benchmarks/phyre_generate.py --rss-procedural 16384  # plus a full procedural block's peak RSS

Every method makes the same videos: the first N rows of ``train60`` (the paper-scale split, seed 0: templates
spread over the 60 training templates), 32 frames (frame k = the state after 20k + 1 steps), 256². Each method
runs in its own subprocess pinned to one core (OMP_NUM_THREADS=1); rates are videos per CPU-second of that process and its
children (ffmpeg), and the peak RSS is that process's ``ru_maxrss`` (its children's separately: ffmpeg, and
the tool look-ups some imports run).

- **reference** (written here, not used by the library): the release's method (SPEC B.5, SPEC_COMBINATORIAL
  A.6, B.1) — the same pybox2d world as phylaw's engine (``engine.build_world``), stepped and recorded after
  20k + 1 steps; every frame drawn at 512² by painting each body (each convex part, each disc) with a
  full-frame numpy pixel-centre test, in body order, palette -> RGB, rows flipped; resized to 256² by area
  (2 x 2 means); one MP4 per video with imageio's FFMPEG writer at its defaults (libx264, yuv420p, quality 5,
  10 fps); per task one HDF5 file with ``action_streams``, ``object_streams`` (14 float32 features per body and
  frame) and ``video_streams`` (vlen uint8 MP4 bytes), as ``data_generator_v2`` writes it. The release stores 50
  frames; here it makes the same 32 as phylaw, so the ratios compare the method, not the video length.
- **phylaw stored**: ``datasets.build.generate(..., resolution=256, workers=1)`` end to end (simulate, render
  PHYRE's raster at 256², deflate each video, HDF5).
- **phylaw procedural**: the same with ``procedural=True`` (states only; frames rendered on read).
- **bare stepping**: ``engine.step_only`` of the same scenes (world build + 621 steps, nothing recorded;
  layouts and actions are made before the clock starts): the engine's own cost, the physical limit.

Targets (issue 12): stored >= 10x the reference; procedural >= 50x the reference and within 1.5x of bare
stepping; peak RSS per worker < 1 GB. The 6M projection = train60 + eval-in-template + eval-out-of-template
videos / rate.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy is imported
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import io
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SPLIT = "train60"
N_FRAMES = 32
RESOLUTION = 256
RASTER = 512  # the release's frames
SEED = 0
FULL_SET = ("train60", "eval-in-template", "eval-out-of-template")  # the 6M set: train60 + its pools
# PHYRE's WAD colours by index (SPEC_COMBINATORIAL A.6)
WAD_RGB = np.array(
    [
        (255, 255, 255),
        (243, 79, 70),
        (107, 206, 187),
        (24, 119, 242),
        (75, 74, 164),
        (185, 202, 210),
        (0, 0, 0),
        (252, 223, 227),
    ],
    np.uint8,
)
KIND_INDEX = {"ball": 0, "bar": 1, "jar": 2, "sticks": 3}
COLOR_FEATURE = {1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5}  # WAD index -> colour one-hot slot (red..black)


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


# ------------------------------------------------------------------ scenes shared by every method


def scenes(n: int) -> tuple[np.ndarray, list]:
    """(n, 3) rows and, per row, (template, task, bodies, ball, action) built as phylaw's engine builds them."""
    from phylaw import sim
    from phylaw.sim.phyre import engine
    from phylaw.sim.phyre.actions import check_action
    from phylaw.sim.phyre.templates import build_task

    rows = sim.get_split("phyre", SPLIT, n_frames=N_FRAMES).params(0, n).astype(np.int64)
    layouts: dict = {}
    out = []
    for tpl, task, trial in rows.tolist():
        bodies = layouts.get((tpl, task))
        if bodies is None:
            bodies = layouts[(tpl, task)] = build_task(tpl, task, SEED)
        action = engine.trial_action(tpl, task, trial, SEED, bodies)
        out.append((tpl, task, bodies, check_action(bodies, action), action))
    return rows, out


# ------------------------------------------------------------------ reference (the release's method)


def ref_simulate(bodies, ball) -> np.ndarray:
    """(T, n, 3) x, y (scene units), angle of every featurised body after 20k + 1 steps, k < 32."""
    from phylaw.sim.phyre import engine

    world, b2bodies, _ = engine.build_world(bodies, ball)
    rec = np.empty((N_FRAMES, len(b2bodies), 3))
    step = 0
    for k in range(N_FRAMES):
        while step < 20 * k + 1:
            world.Step(1.0 / 60.0, 15, 20)
            step += 1
        for i, b in enumerate(b2bodies):
            rec[k, i] = (b.position[0] * 6.0, b.position[1] * 6.0, b.angle)
    return rec


def ref_frame(scene, pose: np.ndarray) -> np.ndarray:
    """One (512, 512, 3) frame: every body painted with a full-frame pixel-centre test, in body order."""
    centres = np.arange(RASTER) + 0.5
    px, py = centres[None, :], centres[:, None]  # (1, W), (H, 1); row 0 = bottom of the scene
    canvas = np.zeros((RASTER, RASTER), np.uint8)
    for body, (x, y, angle) in zip(scene, pose, strict=True):
        if body.color == 0:
            continue
        if body.kind == "ball":  # PHYRE shifts the centre by -0.5 px
            mask = (px - (x - 0.5)) ** 2 + (py - (y - 0.5)) ** 2 <= body.radius**2
            canvas[mask] = body.color
            continue
        c, s = math.cos(angle), math.sin(angle)
        for poly in body.polygons:
            wx = x + c * poly[:, 0] - s * poly[:, 1]
            wy = y + s * poly[:, 0] + c * poly[:, 1]
            mask = np.ones((RASTER, RASTER), bool)
            for j in range(len(poly)):  # counter-clockwise convex polygon: inside = left of every edge
                x0, y0, x1, y1 = wx[j], wy[j], wx[(j + 1) % len(poly)], wy[(j + 1) % len(poly)]
                mask &= (x1 - x0) * (py - y0) - (y1 - y0) * (px - x0) >= 0
            canvas[mask] = body.color
    return WAD_RGB[canvas[::-1]]


def ref_features(scene, rec: np.ndarray) -> np.ndarray:
    """(T, n, 14) float32 PHYRE features (x/W, y/H, angle/2pi wrapped, diameter/W, shape, colour one-hots)."""
    out = np.zeros((len(rec), len(scene), 14), np.float32)
    out[:, :, 0] = rec[:, :, 0] / RASTER
    out[:, :, 1] = rec[:, :, 1] / RASTER
    out[:, :, 2] = np.mod(rec[:, :, 2], 2 * np.pi) / (2 * np.pi)
    for i, body in enumerate(scene):
        out[:, i, 3] = body.diameter / RASTER
        out[:, i, 4 + KIND_INDEX[body.kind]] = 1
        if body.color in COLOR_FEATURE:
            out[:, i, 8 + COLOR_FEATURE[body.color]] = 1
    return out


def ref_video(bodies, ball) -> tuple[bytes, np.ndarray]:
    """MP4 bytes of one 256² video and its features."""
    import imageio.v3 as iio

    scene = [*bodies, ball]
    rec = ref_simulate(bodies, ball)
    frames = np.stack([ref_frame(scene, pose) for pose in rec])  # (T, 512, 512, 3)
    small = frames.reshape(N_FRAMES, RESOLUTION, 2, RESOLUTION, 2, 3).mean(axis=(2, 4))  # area resize
    small = np.rint(small).astype(np.uint8)
    buf = io.BytesIO()
    iio.imwrite(buf, small, extension=".mp4", plugin="FFMPEG", fps=10)  # imageio defaults: libx264, q 5
    return buf.getvalue(), ref_features(scene, rec)


def reference_generate(items: list, out_dir: Path) -> dict:
    """One ``<task>.hdf5`` per task with the trials in order (data_generator_v2's layout)."""
    import h5py

    by_task: dict = {}
    for tpl, task, bodies, ball, action in items:
        by_task.setdefault((tpl, task), []).append((bodies, ball, action))
    mp4_bytes = 0
    for (tpl, task), trials in by_task.items():
        videos, feats, actions = [], [], []
        for bodies, ball, action in trials:
            mp4, f = ref_video(bodies, ball)
            videos.append(np.frombuffer(mp4, np.uint8))
            feats.append(f)
            actions.append(action)
            mp4_bytes += len(mp4)
        with h5py.File(out_dir / f"{tpl}:{task:03d}.hdf5", "w") as h:
            h["action_streams"] = np.stack(actions).astype(np.float64)
            h["object_streams"] = np.stack(feats)
            vs = h.create_dataset("video_streams", (len(videos),), dtype=h5py.vlen_dtype(np.uint8))
            for i, v in enumerate(videos):
                vs[i] = v
    return {"mp4_bytes": mp4_bytes}


# ------------------------------------------------------------------ one method in this process


def run_method(method: str, n: int, repeat: int, out_dir: Path) -> dict:
    from phylaw.datasets import generate
    from phylaw.sim.phyre import engine

    _, items = scenes(n)
    # warm-up: imports, the first ffmpeg start, the first HDF5 file, numba/numpy caches
    warm = out_dir / "warm"
    warm.mkdir()
    if method == "reference":
        reference_generate(items[:1], warm)
    elif method in ("stored", "procedural"):
        generate("phyre", SPLIT, warm / "w.h5", resolution=RESOLUTION, limit=2, n_frames=N_FRAMES,
                 procedural=method == "procedural", progress=False)  # fmt: skip
    times, sizes, extra = [], [], {}
    for r in range(repeat):
        d = out_dir / f"run{r}"
        d.mkdir()
        t0 = cpu_seconds()
        if method == "reference":
            extra = reference_generate(items, d)
        elif method in ("stored", "procedural"):
            generate("phyre", SPLIT, d / "p.h5", resolution=RESOLUTION, limit=n, n_frames=N_FRAMES,
                     procedural=method == "procedural", workers=1, progress=False)  # fmt: skip
        elif method == "bare":
            steps = engine.steps_for(N_FRAMES)
            for _, _, bodies, ball, _ in items:
                engine.step_only(bodies, ball, steps)
        else:
            raise SystemExit(f"unknown method {method}")
        times.append(cpu_seconds() - t0)
        sizes.append(sum(p.stat().st_size for p in d.iterdir()))
    cpu = float(np.median(times))
    return {
        "method": method,
        "n": n,
        "cpu_s": cpu,
        "rate": n / cpu,
        "bytes_per_video": sizes[-1] / n if method != "bare" else None,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "child_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        **extra,
    }


def profile_method(method: str, n: int, out_dir: Path) -> None:
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    run_method(method, n, 1, out_dir)
    prof.disable()
    pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(15)


# ------------------------------------------------------------------ driver


def spawn(method: str, n: int, repeat: int, core: int | None, profile: bool) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--videos", str(n), "--repeat", str(repeat)]
    if profile:
        cmd.append("--profile")

    def pin() -> None:
        if core is not None:
            os.sched_setaffinity(0, {core})

    res = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=pin, check=False)
    if res.returncode:
        raise SystemExit(f"{method} failed:\n{res.stderr}")
    if profile:
        print(f"\n--- cProfile {method} (tottime) ---\n{res.stderr}", file=sys.stderr)
        return {}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=48, help="videos per method (the first N of the split)")
    parser.add_argument("--repeat", type=int, default=5, help="median over this many runs (phylaw paths)")
    parser.add_argument(
        "--long",
        type=int,
        default=480,
        help="also procedural and bare stepping on this many videos (per-call costs amortised)",
    )
    parser.add_argument(
        "--rss-procedural",
        type=int,
        default=0,
        metavar="N",
        help="also the peak RSS of a procedural worker on N videos (16384 = one full block)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the phylaw paths (stderr)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()  # fmt: skip
    if args.worker:
        with tempfile.TemporaryDirectory() as tmp:
            if args.profile:
                profile_method(args.worker, args.videos, Path(tmp))
                return
            print(json.dumps(run_method(args.worker, args.videos, args.repeat, Path(tmp))))
        return

    from phylaw import sim

    core = sorted(os.sched_getaffinity(0))[-1] if hasattr(os, "sched_getaffinity") else None
    start = time.time()
    labels = {
        "reference": "reference (512² full-frame numpy, area → 256², MP4 in HDF5)",
        "stored": "phylaw stored frames 256²",
        "procedural": "phylaw procedural (states only)",
        "bare": "bare Box2D stepping (engine.step_only)",
    }
    rows = [(m, args.videos, spawn(m, args.videos, 1 if m == "reference" else args.repeat, core, False))
            for m in labels]  # fmt: skip
    if args.long:
        rows += [(m, args.long, spawn(m, args.long, 3, core, False)) for m in ("procedural", "bare")]
    full = sum(len(sim.get_split("phyre", s)) for s in FULL_SET)
    res = {(m, n): r for m, n, r in rows}
    ref = res[("reference", args.videos)]["rate"]
    print(f"one core (affinity {{{core}}}), first N videos of {SPLIT} (seed {SEED}), {N_FRAMES} frames, "
          f"{RESOLUTION}²; rates = videos per CPU-second (process + children); wall {time.time() - start:.0f} s\n")  # fmt: skip
    print("| method | N | videos/s/core | × reference | time ÷ bare stepping (same N) | bytes/video | "
          f"core-hours for {full / 1e6:.2f}M | peak RSS (MB) |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for m, n, r in rows:
        bare = res[("bare", n)]["rate"]
        size = "—" if r["bytes_per_video"] is None else f"{r['bytes_per_video']:,.0f}"
        rss = f"{r['rss_mb']:.0f}" + (f" (children {r['child_rss_mb']:.0f})" if r["child_rss_mb"] > 1 else "")
        print(f"| {labels[m]} | {n} | {r['rate']:,.1f} | {r['rate'] / ref:,.1f}× | {bare / r['rate']:.2f} | "
              f"{size} | {full / r['rate'] / 3600:,.0f} | {rss} |")  # fmt: skip
    mp4 = res[("reference", args.videos)]["mp4_bytes"] / args.videos
    print(f"\nreference MP4 alone: {mp4:,.0f} bytes/video (the rest of its files: features, actions, HDF5)")
    n_long = args.long or args.videos
    stored = res[("stored", args.videos)]["rate"] / ref
    proc = res[("procedural", n_long)]["rate"] / ref
    over = res[("bare", n_long)]["rate"] / res[("procedural", n_long)]["rate"]
    worst = max(r["rss_mb"] for _, _, r in rows)
    print(f"targets: stored {stored:.1f}× (≥ 10×) {'met' if stored >= 10 else 'MISSED'}; "
          f"procedural ({n_long} videos) {proc:.1f}× (≥ 50×) {'met' if proc >= 50 else 'MISSED'}; "
          f"procedural ÷ bare stepping time ({n_long} videos) {over:.2f} (≤ 1.5) "
          f"{'met' if over <= 1.5 else 'MISSED'}; peak RSS {worst:.0f} MB (< 1024) "
          f"{'met' if worst < 1024 else 'MISSED'}")  # fmt: skip
    if args.rss_procedural:
        r = spawn("procedural", args.rss_procedural, 1, core, False)
        print(f"procedural worker on {args.rss_procedural} videos: peak RSS {r['rss_mb']:.0f} MB "
              f"({r['rate']:.1f} videos/s/core)")  # fmt: skip
    sys.stdout.flush()
    if args.profile:
        for m in ("stored", "procedural"):
            spawn(m, args.videos, 1, core, True)


if __name__ == "__main__":
    main()
