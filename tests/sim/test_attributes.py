"""Scenario attribute_motion and its attribute-pair / control / composition splits: the motion is uniform
motion's, every row has the look of its parameters, no test combination is ever trained on, and bad input is
one line."""

from __future__ import annotations

import numpy as np
import pytest

from phylaw.errors import PhylawError
from phylaw.render.palette import BLUE, RED
from phylaw.sim import attribute_studies as ast
from phylaw.sim import get_split, list_splits
from phylaw.sim import kinematics as km
from phylaw.sim.attributes import attribute_motion, check_ring_resolution
from phylaw.sim.registry import get_scenario, simulate_uniforms, validate_params
from phylaw.sim.states import SHAPE_DISC, SHAPE_RING, SHAPE_SQUARE

SC = "attribute_motion"


def test_motion_is_uniform_motion_and_the_look_is_the_rows():
    rng = np.random.default_rng(0)
    p = np.array([[0.7, 1.0, RED, SHAPE_DISC], [1.4, 4.0, BLUE, SHAPE_SQUARE], [1.0, 2.5, RED, SHAPE_RING]])
    u = rng.random((3, 3))
    st = simulate_uniforms(SC, p, u, 16)
    ref = km.uniform_motion(p[:, :2], u, 16)
    np.testing.assert_array_equal(st.position, ref.position)  # the placement and x = x0 + v t, unchanged
    np.testing.assert_array_equal(st.in_view, ref.in_view)
    assert st.scenario == SC
    assert st.color[:, 0].tolist() == [RED, BLUE, RED]
    assert st.shape[:, 0].tolist() == [SHAPE_DISC, SHAPE_SQUARE, SHAPE_RING]
    np.testing.assert_array_equal(st.radius[:, 0], p[:, 0])
    again = attribute_motion(p, u, 16)
    np.testing.assert_array_equal(again.position, st.position)


@pytest.mark.parametrize(
    ("row", "what"),
    [([1.0, 2.0, 3, 0], "unknown colour id"), ([1.0, 2.0, 1, 4], "unknown shape id"),
     ([1.0, 2.0, 1.5, 0], "unknown colour id"), ([-1.0, 2.0, 1, 0], "radius <= 0"),
     ([1.0, np.nan, 1, 0], "not finite")],
)  # fmt: skip
def test_bad_parameters_are_one_line(row, what):
    with pytest.raises(PhylawError, match=what) as exc:
        validate_params(SC, np.array([row]))
    assert "\n" not in str(exc.value)


def test_the_old_scenarios_are_validated_as_before():
    validate_params("uniform_motion", np.array([[1.0, 2.0]]))
    validate_params("collision", np.array([[1.0, 1.0, 2.0, 2.0]]))
    assert get_scenario(SC).columns("color") == [2]
    assert "train-3k" in list_splits("uniform_motion")
    assert "train-3k" not in list_splits(SC)  # no plain grids for attribute_motion


def _pair_settings():
    return [s for s in ast.SETTINGS.values() if s.kind in ("pair", "compose")]


@pytest.mark.parametrize("setting", _pair_settings(), ids=lambda s: s.name)
def test_no_test_combination_is_ever_trained_on(setting):
    prefix = ast._prefix(setting)
    test_levels = {ast.level_name(c) for c in setting.test_combos()}
    train_levels = {ast.level_name(c) for c in setting.combos() if setting.is_train(c)}
    assert test_levels
    assert not test_levels & train_levels
    for size in ("-tiny", "-small", ""):
        split = get_split(SC, prefix + size, n_frames=8)
        assert {p.level for p in split.parts} == train_levels
        if size != "":  # every row, read back by its parameters alone
            combos = ast.combo_of(split.params(), setting)
            assert set(combos) == train_levels
        for part in split.parts:  # the parameter ends of every part
            corners = np.array(np.meshgrid(*[[v.min(), v.max()] for v in part.values])).reshape(4, -1).T
            assert set(ast.combo_of(corners, setting)) == {part.level}
    for size in ("-eval", "-eval-small"):
        ev = get_split(SC, prefix + size, n_frames=8)
        labels = ev.labels()
        combos = np.array(ast.combo_of(ev.params(), setting))
        np.testing.assert_array_equal(combos, labels.level)  # every test video labelled with its combination
        assert set(labels.level[labels.split == "ood"]) == test_levels
        assert set(labels.level[labels.split == "id"]) == train_levels


def test_binary_and_continuous_values():
    b = get_split(SC, "attr-color-size-bin-tiny", n_frames=8).params()
    assert set(np.unique(b[:, 0])) == {0.7, 1.4}
    assert np.unique(b[:, 1]).size == 1000  # the fixed size hands its count to the speed
    c = get_split(SC, "attr-size-velocity-cont-small", n_frames=8).params()
    small = c[:, 0] <= ast.R_SPLIT
    assert (c[small, 1] <= ast.V_SPLIT).all()
    assert (c[~small, 1] > ast.V_SPLIT).all()
    assert ((c[:, 0] == 1.05) == (c[:, 0] >= 1.05) & small).all()  # 1.05 is small, never large
    sv = get_split(SC, "attr-size-velocity-bin-tiny", n_frames=8)
    assert len(sv) == 2000
    assert (
        len(np.unique(sv.params(), axis=0)) == 2
    )  # both fixed: one vector per combination, other placements
    rows = sv.generate(0, 8, seed=0).states.position[:, 0, 0, :]
    assert len(np.unique(rows, axis=0)) == 8


def test_sizes_and_paper_eval_counts():
    for name, n in [("attr-color-size-cont", 300_000), ("attr-color-size-cont-small", 20_000),
                    ("attr-color-size-cont-tiny", 2_000), ("attr-size-shape-cont-eval", 620),
                    ("attr-velocity-shape-cont-eval", 704), ("attr-color-size-cont-eval", 1364),
                    ("attr-color-velocity-cont-eval", 1584), ("attr-color-size-bin-eval", 404)]:  # fmt: skip
        assert len(get_split(SC, name, n_frames=8)) == n, name
    ev = get_split(SC, "attr-color-shape-eval", n_frames=8)
    assert (ev.labels().split == "ood").sum() == 1400  # the paper's 1,400 colour-shape test cases
    bin_eval = get_split(SC, "attr-color-size-bin-eval", n_frames=8)
    assert (bin_eval.labels().split == "ood").sum() == 202  # the paper's 202 binary colour-size cases


def test_control_is_red_only_and_composition_holds_out_combinations():
    ctl = get_split(SC, "attr-control-size-eval-small", n_frames=8)
    assert set(ctl.params()[:, 2]) == {RED}
    assert set(ctl.labels().split) == {"id"}
    vs = ast.get_setting("compose-velocity-size")
    held = {ast.level_name(c) for c in vs.test_combos()}
    assert held == {"slow-small", "medium-medium", "fast-large"}
    seen = [c for c in vs.combos() if vs.is_train(c)]
    for i in range(2):  # every bin of each attribute is seen in training, with other partners
        assert {c[i].name for c in seen} == {s.name for s in vs.sets[i]}
    cs = ast.get_setting("compose-color-size")
    assert {ast.level_name(c) for c in cs.test_combos()} == {"red-large", "blue-small"}


def test_bad_pairs_are_one_line():
    red, blue = ast.categorical("color", "red"), ast.categorical("color", "blue")
    small, large = ast.HALVES["size"]
    with pytest.raises(PhylawError, match="unknown attribute pair 'color-mass'"):
        ast.get_setting("color-mass")
    with pytest.raises(PhylawError, match="unknown attribute 'mass'"):
        ast.attribute_pair("x", "color", "mass", (red, blue), (small, large), (("red", "small"),))
    with pytest.raises(PhylawError, match="two different attributes"):
        ast.attribute_pair("x", "color", "color", (red, blue), (red, blue), (("red", "red"),))
    overlap = ast.ValueSet("size", "mid", 1.0, 1.2)
    with pytest.raises(PhylawError, match="overlap"):
        ast.attribute_pair("x", "color", "size", (red, blue), (small, overlap), (("red", "small"),))
    closed = ast.ValueSet("size", "large", 1.05, 1.4)  # shares 1.05 with small
    with pytest.raises(PhylawError, match="overlap"):
        ast.attribute_pair("x", "color", "size", (red, blue), (small, closed), (("red", "small"),))
    with pytest.raises(PhylawError, match="not one of the sets"):
        ast.attribute_pair("x", "color", "size", (red, blue), (small, large), (("green", "small"),))
    with pytest.raises(PhylawError, match="no test combination"):
        ast.attribute_pair("x", "color", "size", (red, blue), (small, large),
                           tuple((a, b) for a in ("red", "blue") for b in ("small", "large")))  # fmt: skip
    with pytest.raises(PhylawError, match="unknown color 'green'"):
        ast.categorical("color", "green")
    with pytest.raises(PhylawError, match="not an attribute split"):
        ast.attribute_split("gap-2.0-3.0")


def test_a_ring_thinner_than_a_pixel_is_refused_and_nothing_is_written(tmp_path):
    from phylaw.datasets.build import generate

    split = get_split(SC, "attr-ring-ball-eval-small", n_frames=8)
    check_ring_resolution(split, 64)  # 0.4 r W / 10 >= 1 px at 64 px
    with pytest.raises(PhylawError, match=r"px thin at 24 px.*resolution >= 32") as exc:
        generate(
            SC, "attr-ring-ball-eval-small", tmp_path / "x.h5", resolution=24, n_frames=8, progress=False
        )
    assert "\n" not in str(exc.value)
    assert not any(tmp_path.iterdir())
    generate(SC, "attr-color-shape-eval-small", tmp_path / "y.h5", resolution=24, n_frames=8, progress=False)


def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys):
    from phylaw.cli.main import main

    out = tmp_path / "x.h5"
    base = ["generate", SC, "--out", str(out), "--frames", "8"]
    assert main([*base, "--split", "attr-color-mass-tiny"]) == 2
    assert main([*base, "--split", "attr-ring-ball-eval-small", "--resolution", "24"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert any("unknown split 'attr-color-mass-tiny'" in line for line in err)
    assert any("px thin at 24 px" in line for line in err)
    assert not any(tmp_path.iterdir())


def test_attr_all_shows_an_autoencoder_every_combination_of_every_pair():
    """attr-all: the shared VAE's frames hold every colour x shape over the whole ranges, so every evaluation
    video of every setting is a combination the autoencoder has seen (the per-cell VAE's had not)."""
    split = get_split(SC, "attr-all-tiny", n_frames=8)
    p = split.params()
    assert len(p) == 6 * 340
    assert set(split.labels().level) == {f"{c}-{s}" for c in ("red", "blue") for s in ("disc", "square", "ring")}
    combos = {(c, s) for c, s in p[:, 2:4].tolist()}
    for name in ast.SETTINGS:
        ev = get_split(SC, ast.attribute_split(f"{ast._prefix(ast.get_setting(name))}-eval-small").name,
                       n_frames=8).params()  # fmt: skip
        assert {(c, s) for c, s in ev[:, 2:4].tolist()} <= combos, name
        for col in (0, 1):  # r, v inside attr-all's span
            assert p[:, col].min() <= ev[:, col].min(), name
            assert ev[:, col].max() <= p[:, col].max(), name
    assert ast.attribute_split("attr-all-small").role == "autoencoder"
    assert len(get_split(SC, "attr-all-small", n_frames=8)) == 6 * 3400
