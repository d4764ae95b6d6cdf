"""The abnormal-video judge on real ground truth (rendered, parsed) and on injected violations."""

from __future__ import annotations

import numpy as np
import pytest

from phylaw.evaluate import judge as jd
from phylaw.evaluate import violations as vi
from phylaw.evaluate.objects import parse_objects
from phylaw.evaluate.outcome import abnormal_ratio, outcome_types, wilson_ci
from phylaw.seeding import child_rng
from phylaw.sim.phyre.engine import FRAME_DT, trial_action
from phylaw.sim.phyre.splits import get_split
from phylaw.sim.phyre.templates import build_task

RES = 128
FRAMES = 20
ROWS = (0, 1, 9, 10)  # row 9 (10068:6) starts with three contacts in the first step (initial overlaps)


def _scene(row: int) -> vi.Scene:
    tpl, task, trial = (
        get_split("eval-out-of-template-small", n_frames=FRAMES).params(row, row + 1)[0].astype(int)
    )
    bodies = build_task(int(tpl), int(task), 0)
    return vi.make_scene(bodies, trial_action(int(tpl), int(task), int(trial), 0, bodies), FRAMES, RES)


@pytest.fixture(scope="module")
def scenes() -> dict[int, vi.Scene]:
    return {r: _scene(r) for r in ROWS}


def _verdict(frames: np.ndarray) -> jd.Verdict:
    return jd.judge(parse_objects(frames[None] if frames.ndim == 4 else frames, 512.0, FRAME_DT))


def test_ground_truth_passes(scenes):
    frames = np.stack([vi._render(s.gt, RES) for s in scenes.values()])
    v = _verdict(frames)
    assert v.scores.shape == (len(ROWS), len(jd.VIOLATIONS))
    assert not v.abnormal.any(), v.reasons


# (violation, strength, what the reason must name)
CASES = [
    ("disappearance", "strong", "disappearance"),
    ("appearance", "strong", "appearance"),
    ("color_change", "strong", "color_change"),
    ("static_moved", "strong", "static_moved"),
    ("spontaneous_motion", "strong", "spontaneous_motion"),
    ("hovering", "strong", "hovering"),
    ("time_reversal", "moderate", "time_reversal"),
]


def _injected(scenes, name, strength):
    for row, scene in scenes.items():
        for s in range(6):
            made = vi.CORRUPTIONS[name](scene, child_rng(s, "test-judge", row, name), strength)
            if made is not None:
                return made
    pytest.skip(f"no test scene admits {name}")


@pytest.mark.parametrize(("name", "strength", "word"), CASES)
def test_injected_violation_flagged_with_reason(scenes, name, strength, word):
    frames, corr = _injected(scenes, name, strength)
    v = _verdict(frames)
    j = jd.V_INDEX[name]
    assert v.abnormal[0]
    assert v.scores[0, j] >= 1, (corr, v.reasons)
    assert any(r.startswith(word) for r in v.reasons[0])


RULES = {
    "disappearance": "_presence",
    "static_moved": "_static_moved",
    "spontaneous_motion": "_spontaneous",
    "hovering": "_hovering",
    "time_reversal": "_reversal",
}


@pytest.mark.parametrize("name", sorted(RULES))
def test_mutation_removing_a_rule_loses_its_flag(scenes, monkeypatch, name):
    """Mutation check: with the rule replaced by one that finds nothing, its violation's score is 0."""
    frames, _ = _injected(scenes, name, "strong")
    tracks = parse_objects(frames[None], 512.0, FRAME_DT)
    assert jd.judge(tracks).scores[0, jd.V_INDEX[name]] >= 1
    nothing = (0.0, "")
    fn = RULES[name]
    monkeypatch.setattr(jd, fn, (lambda *a: (nothing,) * 3) if fn == "_presence" else (lambda *a: nothing))
    if name == "hovering":  # the at-rest form of the rule feeds the same score
        monkeypatch.setattr(jd, "_hovering_at_rest", lambda *a: nothing)
    assert jd.judge(tracks).scores[0, jd.V_INDEX[name]] == 0


def _case(scenes, name, strength, row, seed):
    made = vi.CORRUPTIONS[name](scenes[row], child_rng(seed, "test-judge", row, name), strength)
    assert made is not None
    return made


# (violation, strength, row, seed, rule, what the reason must start with): one injected case per changed rule
# (chosen once from the test scenes; each corruption's note says what it did)
RULE_CASES = [
    # a gray ball grows x1.35 while apart from the others: the track's area range
    ("shape_change", "moderate", 10, 1, "shape_change", "shape_change: gray track 3 area grows"),
    # a gray ball grows x1.35 while touching others of its colour (merged): the class's visible area
    ("shape_change", "moderate", 1, 2, "shape_change", "shape_change: the gray bodies grow"),
    # a ball passes through a static body: the black class's visible area drops
    ("interpenetration", "moderate", 9, 1, "interpenetration", "interpenetration: the black bodies lose"),
    # a falling ball frozen in the air (after a contact): it stops dead with nothing under it
    ("impossible_balance", "moderate", 9, 0, "impossible_balance", "impossible_balance: gray track 0 moving"),
    # the red ball without gravity stays where it was released: at rest with nothing under it
    ("hovering", "moderate", 0, 0, "hovering", "hovering: red track 0 at rest in the air"),
    # the red ball with restitution 1.2 bounces higher than it fell from: above its energy since its last push
    ("energy_gain", "moderate", 0, 0, "energy_gain", "energy_gain: red track 0 gains"),
]


# the functions that produce each changed rule's findings (mutation check: without them, no flag)
RULE_FNS = {
    "shape_change": {"_shape_change": (0.0, ""), "_class_change": ((0.0, ""), (0.0, ""))},
    "interpenetration": {"_interpenetration": (0.0, ""), "_class_change": ((0.0, ""), (0.0, ""))},
    "impossible_balance": {"_balance": (0.0, "")},
    "hovering": {"_hovering": (0.0, ""), "_hovering_at_rest": (0.0, "")},
    "energy_gain": {"_energy": ((0.0, ""), (0.0, ""))},
}


@pytest.mark.parametrize(("name", "strength", "row", "seed", "rule", "start"), RULE_CASES)
def test_changed_rule_flags_its_case(scenes, monkeypatch, name, strength, row, seed, rule, start):
    frames, corr = _case(scenes, name, strength, row, seed)
    tracks = parse_objects(frames[None], 512.0, FRAME_DT)
    v = jd.judge(tracks)
    j = jd.V_INDEX[rule]
    assert v.scores[0, j] >= 1, (corr, v.reasons)
    assert any(r.startswith(start) for r in v.reasons[0]), (corr, v.reasons)
    for fn, nothing in RULE_FNS[rule].items():
        monkeypatch.setattr(jd, fn, lambda *a, _n=nothing: _n)
    assert jd.judge(tracks).scores[0, j] == 0


def test_changed_rules_silent_on_ground_truth(scenes):
    """The changed rules score every test scene's ground truth below 1, with margin (< 0.8)."""
    frames = np.stack([vi._render(s.gt, RES) for s in scenes.values()])
    tracks = parse_objects(frames, 512.0, FRAME_DT)
    px = float(tracks.pixel_size)
    for i in range(len(tracks)):
        v = jd._Video(tracks, i, jd.JudgeConfig(), px)
        grow, loss = jd._class_change(v)
        for name, f in [("shape", jd._shape_change(v)), ("grow", grow), ("loss", loss),
                        ("balance", jd._balance(v)), ("spontaneous", jd._spontaneous(v)),
                        ("at_rest", jd._hovering_at_rest(v)), ("energy", jd._energy(v)[0])]:  # fmt: skip
            assert f[0] < 0.8, (i, name, f)


def test_factors_scale_scores(scenes):
    frames, _ = _injected(scenes, "disappearance", "strong")
    tracks = parse_objects(frames[None], 512.0, FRAME_DT)
    base = jd.judge(tracks)
    cfg = jd.JudgeConfig(factors=(0.5,) * len(jd.VIOLATIONS))
    half = jd.judge(tracks, config=cfg)
    np.testing.assert_allclose(half.scores, 0.5 * base.scores)
    assert jd.JudgeConfig.from_dict(cfg.to_dict()) == cfg


def test_outcome_types_and_ratio():
    t = outcome_types(np.array([1, 0, 0, 1], bool), np.array([1, 1, 0, 0], bool))
    assert t.tolist() == [3, 1, 2, 3]
    r = abnormal_ratio(np.array([1, 0, 0, 1], bool))
    assert (r.n, r.abnormal, r.ratio) == (4, 2, 0.5)
    assert r.lo < 0.5 < r.hi
    p, lo, hi = wilson_ci(0, 20)
    assert p == 0
    assert lo == 0
    assert 0.1 < hi < 0.2


# ------------------------------------------------------------------ drawn scenes (exact, no simulator)
_RGB = {"red": (243, 79, 70), "gray": (185, 202, 210), "black": (0, 0, 0)}
_N = 256  # pixels; world 512 units, so one pixel = 2 units


def _draw(t_frames: int, discs) -> np.ndarray:
    """(T, N, N, 3) frames of discs: each disc is (colour, radius in units, (T, 2) centres in units, y up)."""
    yy, xx = np.mgrid[0:_N, 0:_N]
    cx, cy = (xx + 0.5) * 2.0, (_N - yy - 0.5) * 2.0
    out = np.full((t_frames, _N, _N, 3), 255, np.uint8)
    for colour, r, path in discs:
        for t in range(t_frames):
            inside = (cx - path[t, 0]) ** 2 + (cy - path[t, 1]) ** 2 <= r * r
            out[t][inside] = _RGB[colour]
    return out


def _still(x: float, y: float, t_frames: int) -> np.ndarray:
    return np.tile([x, y], (t_frames, 1)).astype(float)


def _hover_score(discs, t_frames: int = 10) -> float:
    tr = parse_objects(_draw(t_frames, discs)[None], 512.0, FRAME_DT)
    return jd._hovering_at_rest(jd._Video(tr, 0, jd.JudgeConfig(), float(tr.pixel_size)))[0]


def test_ball_at_rest_beside_a_peg_is_hovering():
    """A ball cannot rest against the side of a single peg (its weight is not carried under its centre). Before
    the support rule required a box under the centre (or one either side), any near box reaching below the
    ball's centre counted as support and this scored 0."""
    beside = [("black", 8.0, _still(200.0, 200.0, 10)), ("gray", 16.0, _still(225.0, 204.0, 10))]
    assert _hover_score(beside) >= 1
    on_top = [("black", 8.0, _still(200.0, 200.0, 10)), ("gray", 16.0, _still(201.0, 225.0, 10))]
    between = [("black", 8.0, _still(180.0, 200.0, 10)), ("black", 8.0, _still(220.0, 200.0, 10)),
               ("gray", 16.0, _still(200.0, 214.0, 10))]  # fmt: skip
    on_floor = [("gray", 16.0, _still(300.0, 16.0, 10))]
    for scene in (on_top, between, on_floor):
        assert _hover_score(scene) == 0


def test_slow_neighbour_does_not_excuse_a_fast_onset():
    """A ball at rest that starts at 10 units/frame beside a body creeping at 1.5 units/frame: the creeping
    body cannot have launched it (restitution 0.2 gives at most 1.2 x the pusher's speed). Before the pusher's
    speed was compared (``push_ratio``), any moving near body excused the onset."""
    t_frames, k = 16, 8
    ball = _still(300.0, 100.0, t_frames)
    ball[k:] += np.arange(1, t_frames - k + 1)[:, None] * np.array([6.0, 8.0])  # 10 units/frame, up-right
    creep = _still(262.0, 120.0, t_frames)
    creep[:, 1] -= 1.5 * np.arange(t_frames)  # sliding down beside it, 6 units apart
    tr = parse_objects(_draw(t_frames, [("red", 12.0, ball), ("gray", 20.0, creep)])[None], 512.0, FRAME_DT)
    v = jd._Video(tr, 0, jd.JudgeConfig(), float(tr.pixel_size))
    assert jd._spontaneous(v)[0] >= 1
    # the same onset beside a body that moves as fast as the ball is excused (it may have pushed it)
    push = _still(262.0, 100.0, t_frames)
    push[:k, 0] -= 10.0 * (k - np.arange(k))  # arrives at 10 units/frame, stops at the ball at frame k
    tr2 = parse_objects(_draw(t_frames, [("red", 12.0, ball), ("gray", 20.0, push)])[None], 512.0, FRAME_DT)
    v2 = jd._Video(tr2, 0, jd.JudgeConfig(), float(tr2.pixel_size))
    assert jd._spontaneous(v2)[0] < 1


def _bouncing_ball(t_frames: int, restitution: float, x: float = 250.0, y0: float = 300.0, r: float = 12.0):
    """(T, 2) a ball released at rest from y0 under g, bouncing off the floor with ``restitution``."""
    dt, out, y, vy = FRAME_DT, [], y0, 0.0
    for _ in range(t_frames):
        out.append((x, y))
        for _ in range(10):  # sub-steps
            vy -= jd.GRAVITY * dt / 10
            y += vy * dt / 10
            if y < r:
                y, vy = r, -restitution * vy
    return np.array(out)


def test_jittering_neighbour_does_not_excuse_an_energy_gain():
    """A ball that bounces off the floor higher than it fell (restitution 1.2) beside a gray disc jittering by
    1.5 units/frame: the disc cannot have given it that energy. Before a push needed the pusher's point speed
    (>= push_ratio of the ball's), the jittering disc excused the gain."""
    t_frames = 24
    ball = _bouncing_ball(t_frames, 1.2)
    creep = _still(290.0, 20.0, t_frames)
    creep[::2, 0] += 1.5
    frames = _draw(t_frames, [("red", 12.0, ball), ("gray", 20.0, creep)])
    tr = parse_objects(frames[None], 512.0, FRAME_DT)
    v = jd._Video(tr, 0, jd.JudgeConfig(), float(tr.pixel_size))
    assert jd._energy(v)[0][0] >= 1
    # the same scene with PHYRE's restitution 0.2 is silent
    frames = _draw(t_frames, [("red", 12.0, _bouncing_ball(t_frames, 0.2)), ("gray", 20.0, creep)])
    tr = parse_objects(frames[None], 512.0, FRAME_DT)
    assert jd._energy(jd._Video(tr, 0, jd.JudgeConfig(), float(tr.pixel_size)))[0][0] < 1


def test_contact_between_frames_is_not_free_flight():
    """A fast ball (60 units/frame) glances off two pegs between sampled frames: at every frame its box is
    away from both, but its path between frames crosses them. Two deflections in a row are a residual
    acceleration pair that the free-flight (hovering) rule flagged while it tested isolation only at the
    sampled frames; the swept boxes (``swept_free``) see the contacts."""
    t_frames = 14
    t = np.arange(t_frames)
    ball = np.stack([np.full(t_frames, 250.0), 480.0 - 0.5 * jd.GRAVITY * (t * FRAME_DT) ** 2], axis=1)
    ball[10:, 0] += 16.0  # deflected right between frames 9 and 10
    ball[11:, 0] -= 32.0  # and left between frames 10 and 11
    pegs = [
        ("black", 4.0, _still(0.5 * (ball[9, 0] + ball[10, 0]) - 12.0, 0.5 * (ball[9, 1] + ball[10, 1]), t_frames)),
        ("black", 4.0, _still(0.5 * (ball[10, 0] + ball[11, 0]) + 12.0, 0.5 * (ball[10, 1] + ball[11, 1]), t_frames)),
    ]  # fmt: skip
    tr = parse_objects(_draw(t_frames, [("gray", 8.0, ball), *pegs])[None], 512.0, FRAME_DT)
    v = jd._Video(tr, 0, jd.JudgeConfig(), float(tr.pixel_size))
    m = int(np.flatnonzero(tr.cls[0] == 5)[0])
    assert not v.near[8:13, m].any()  # apart at every sampled frame
    free = v.swept_free()
    assert not free[10, m]  # the paths into frames 10 and 11 cross the pegs
    assert not free[11, m]
    assert free[3:10, m].all()
    assert jd._hovering(v, v.accel())[0] < 1


def test_decoder_thinned_static_bodies_are_not_a_disappearance(scenes):
    """Black pegs one pixel thinner on one side in every frame after the given one (what a VAE's soft edges do:
    10-15 % of the black area) is not a body gone: the class-area rule reads its reference from the model's
    own frames. The same video read as if frame 0 were generated too flags it (the rule still sees the loss),
    and a real deletion is still flagged (test_injected_violation_flagged_with_reason)."""
    for row in (0, 9, 10):
        frames = vi._render(scenes[row].gt, RES).copy()
        black = frames.max(-1) < 60
        edge = black.copy()
        edge[:, :, :-1] &= ~black[:, :, 1:]  # black pixels whose right-hand neighbour is not black
        edge[:, :, -1] = False
        edge[0] = False  # the given frame stays the simulator's
        frames[edge] = 255
        assert 0.1 < edge[1].sum() / black[0].sum() < 0.4
        tracks = parse_objects(frames[None], 512.0, FRAME_DT)
        given = jd.judge(tracks, cond_frames=1)
        assert not given.abnormal[0], (row, given.reasons[0])
        all_generated = jd.judge(tracks, cond_frames=0)
        assert any("units² of black gone" in r for r in all_generated.reasons[0]), (row, all_generated.reasons)
