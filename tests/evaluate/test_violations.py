"""Corruptions of ground truth (each changes what it says), the engine overrides, and `phylaw judge-suite`."""

from __future__ import annotations

import numpy as np
import pytest

from phylaw.cli.main import main
from phylaw.evaluate import judge as jd
from phylaw.evaluate import violations as vi
from phylaw.seeding import child_rng
from phylaw.sim.phyre import engine as en
from phylaw.sim.phyre.actions import check_action
from phylaw.sim.phyre.engine import trial_action
from phylaw.sim.phyre.splits import get_split
from phylaw.sim.phyre.templates import build_task

RES, FRAMES = 64, 16


@pytest.fixture(scope="module")
def scene() -> vi.Scene:
    tpl, task, trial = get_split("eval-out-of-template-small", n_frames=FRAMES).params(1, 2)[0].astype(int)
    bodies = build_task(int(tpl), int(task), 0)
    return vi.make_scene(bodies, trial_action(int(tpl), int(task), int(trial), 0, bodies), FRAMES, RES)


@pytest.mark.parametrize("name", sorted(vi.CORRUPTIONS))
def test_each_corruption_changes_what_it_says(scene, name):
    gt = vi._render(scene.gt, RES)
    made = None
    for strength in ("strong", "moderate", "weak"):
        for s in range(4):
            made = vi.CORRUPTIONS[name](scene, child_rng(s, "test-violations", name), strength)
            if made is not None:
                break
        if made is not None:
            break
    if made is None:
        pytest.skip(f"{name}: not applicable to this scene")
    frames, c = made
    assert frames.shape == gt.shape
    assert frames.dtype == np.uint8
    assert c.violation == name
    assert c.strength in vi.STRENGTHS
    assert c.note
    changed = np.flatnonzero((frames != gt).any(axis=(1, 2, 3)))
    assert len(changed), c
    if c.frame >= 0 and c.variant not in ("gravity_scale", "restitution", "no_collide", "impulse"):
        assert changed[0] >= c.frame - 1, (changed, c)  # nothing before the recorded frame (ramps: k - 1)
        assert np.array_equal(frames[: max(0, c.frame - 1)], gt[: max(0, c.frame - 1)])


def test_impossible_balance_freezes_a_body_friction_could_not_stop():
    """Strengths are multiples of friction's one-frame stop (weak >= 2x: never a stop friction could make);
    the frozen body was moving at least that fast sideways and kept moving visibly in the ground truth."""
    assert vi.STOP_SPEED["weak"] >= 2 * vi.FRICTION_STOP
    assert vi.STOP_SPEED["weak"] < vi.STOP_SPEED["moderate"] < vi.STOP_SPEED["strong"]
    assert pytest.approx(jd.FRICTION * jd.GRAVITY * en.FRAME_DT) == vi.FRICTION_STOP
    tpl, task, trial = get_split("eval-out-of-template-small", n_frames=20).params(9, 10)[0].astype(int)
    bodies = build_task(int(tpl), int(task), 0)
    sc = vi.make_scene(bodies, trial_action(int(tpl), int(task), int(trial), 0, bodies), 20, 64)
    made = vi.impossible_balance(sc, child_rng(0, "test-violations", "balance"), "moderate")
    assert made is not None
    frames, c = made
    p = sc.gt.position[0, :, c.slot]
    k = c.frame
    assert abs(p[k, 0] - p[k - 1, 0]) / en.FRAME_DT >= vi.STOP_SPEED["moderate"]
    assert np.linalg.norm(p[k + 3] - p[k]) > vi.FREEZE_ROOM
    assert np.array_equal(frames[:k], vi._render(sc.gt, 64)[:k])


def test_collision_response_moves_the_struck_body_visibly(monkeypatch):
    """The chosen collision's amplified response moves the struck body >= RESPONSE_VISIBLE from its path."""
    seen = []
    real = vi._resim
    monkeypatch.setattr(vi, "_resim", lambda sc, ov: seen.append(real(sc, ov)) or seen[-1])
    for row in (1, 9, 0, 10):
        tpl, task, trial = (
            get_split("eval-out-of-template-small", n_frames=20).params(row, row + 1)[0].astype(int)
        )
        bodies = build_task(int(tpl), int(task), 0)
        sc = vi.make_scene(bodies, trial_action(int(tpl), int(task), int(trial), 0, bodies), 20, 64)
        made = vi.collision_response(sc, child_rng(0, "test-violations", "collision"), "moderate")
        if made is not None:
            break
    assert made is not None
    _, c = made
    s = seen[-1]
    w = slice(c.frame, c.frame + vi.RESPONSE_FRAMES + 1)
    shift = np.linalg.norm(s.position[0, w, c.slot] - sc.gt.position[0, w, c.slot], axis=-1)
    assert np.nanmax(shift) >= vi.RESPONSE_VISIBLE


def test_controls(scene):
    cases = vi.controls(scene, child_rng(0, "test-controls"))
    assert [c.strength for _, c in cases] == ["gt", "perturbed"]
    assert np.array_equal(cases[0][0], vi._render(scene.gt, RES))
    assert all(c.violation == "none" for _, c in cases)


def test_engine_override_default_is_bit_identical():
    bodies = build_task(10000, 0, 0)
    ball = check_action(bodies, trial_action(10000, 0, 0, 0, bodies))
    a = en.simulate_scene(bodies, ball, 12)
    for ov in (None, en.Overrides()):
        b = en.simulate_scene(bodies, ball, 12, ov)
        for name, x in a.arrays().items():
            assert np.array_equal(x, getattr(b, name), equal_nan=True), name
    slot = len(bodies)  # the red ball
    c = en.simulate_scene(bodies, ball, 12, en.Overrides(gravity_scale=((slot, 0.0),)))
    assert np.allclose(c.position[0, :3, slot], c.position[0, 0, slot])  # it floats until something hits it
    assert not np.allclose(a.position[0, :3, slot], a.position[0, 0, slot])  # it falls with gravity
    d = en.simulate_scene(bodies, ball, 12, en.Overrides(no_collide=((slot, -1),)))
    assert d.position[0, -1, slot, 1] < 0 or not (d.event_a[0] == slot).any()  # falls through everything


def test_cli_bad_input(tmp_path, capsys):
    for args in (["--split", "nope"], ["--videos", "1"], ["--resolution", "100"], ["--frames", "60"]):
        assert main(["judge-suite", "--out", str(tmp_path / "x"), *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1
        assert err[0].startswith("error:")
    assert not (tmp_path / "x").exists()


def test_cli_tiny_suite_writes_its_files(tmp_path):
    out = tmp_path / "suite"
    args = [
        "judge-suite",
        "--videos",
        "2",
        "--resolution",
        "64",
        "--frames",
        "12",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(args) == 0
    for f in ("verdicts.csv", "recall.csv", "controls.csv", "judge_config.json", "summary.md",
              "roc_hovering.png"):  # fmt: skip
        assert (out / f).is_file(), f
    assert not list(out.glob("*.partial"))
    import pandas as pd

    v = pd.read_csv(out / "verdicts.csv")
    assert set(v.part) == {"validation", "evaluation"}
    assert {"none", "teleport"} <= set(v.label)
