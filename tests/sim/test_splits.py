"""Split definitions: sizes, membership, labels, ID/training disjointness, OOD placement."""

from __future__ import annotations

import numpy as np
import pytest

from phylaw.sim import (
    KINEMATIC_SCENARIOS,
    RANGE_SETS,
    TRAIN_SPLITS,
    get_ranges,
    get_split,
    grid_split,
    list_splits,
)
from phylaw.sim.splits import permute

EXPECTED_SIZES = {
    "uniform_motion": {"train-30k": 30_000, "train-300k": 300_000, "train-3m": 3_000_000},
    "parabola": {"train-30k": 30_000, "train-300k": 300_000, "train-3m": 3_000_000},
    "collision": {"train-30k": 28_224, "train-300k": 329_476, "train-3m": 3_407_716},
}


def test_split_names_are_closed_and_listed():
    names = list_splits()
    assert {"train-30k", "train-300k", "train-3m", "eval"} <= set(names)
    for scenario in ("uniform_motion", "collision", "parabola"):  # shared, then the scenario's study splits
        assert list_splits(scenario)[: len(names)] == names


@pytest.mark.parametrize("scenario", KINEMATIC_SCENARIOS)
@pytest.mark.parametrize("ranges", RANGE_SETS)
def test_training_grid_sizes(scenario, ranges):
    for name, size in EXPECTED_SIZES[scenario].items():
        s = get_split(scenario, name, ranges)
        assert len(s) == size
        assert (s.scenario, s.name, s.ranges, s.version) == (scenario, name, ranges, "1")


@pytest.mark.parametrize("scenario", KINEMATIC_SCENARIOS)
def test_training_rows_are_a_permutation_of_the_grid(scenario):
    s = get_split(scenario, "train-30k")
    p = s.params()
    assert len(np.unique(p, axis=0)) == len(s)  # every grid point exactly once
    (part,) = s.parts
    for j, vals in enumerate(part.values):
        assert set(np.unique(p[:, j])) == set(vals)
    # shuffled: the first rows are not the grid's first rows, and a prefix covers the ranges
    prefix = p[:300]
    for j, vals in enumerate(part.values):
        assert prefix[:, j].min() < np.quantile(vals, 0.1)
        assert prefix[:, j].max() > np.quantile(vals, 0.9)
    labels = s.labels(10, 20)
    assert (labels.split == "train").all()
    assert (labels.level == "train").all()
    np.testing.assert_array_equal(labels.index, np.arange(10, 20))


def test_training_rows_3m_slice_is_consistent():
    s = get_split("collision", "train-3m")
    np.testing.assert_array_equal(s.params(3_000_000, 3_000_050), s.params(2_999_990, 3_000_100)[10:60])


@pytest.mark.parametrize("n", [1, 2, 3, 7, 1000, 4097, 28_224])
def test_permute_is_a_bijection(n):
    y = permute(np.arange(n), n, key=123)
    assert sorted(y.tolist()) == list(range(n))


def _on_grid(points: np.ndarray, values: tuple[np.ndarray, ...], tol: float = 1e-9) -> np.ndarray:
    """(n,) bool: every coordinate of the point equals some value of its grid axis (within tol)."""
    hit = np.ones(len(points), dtype=bool)
    for j, vals in enumerate(values):
        hit &= (np.abs(points[:, j, None] - np.asarray(vals)[None, :]) <= tol).any(axis=1)
    return hit


@pytest.mark.parametrize("scenario", KINEMATIC_SCENARIOS)
@pytest.mark.parametrize("ranges", RANGE_SETS)
@pytest.mark.parametrize("eval_name", ["eval", "eval-small"])
def test_id_eval_points_inside_ranges_and_never_training_points(scenario, ranges, eval_name):
    ev = get_split(scenario, eval_name, ranges)
    lab = ev.labels()
    p = ev.params()
    ids = p[lab.split == "id"]
    rset = get_ranges(ranges, scenario)
    for j, name in enumerate(ev.param_names):
        lo, hi = rset.r_id if name.startswith("r") else rset.v_id
        assert (ids[:, j] > lo).all()
        assert (ids[:, j] < hi).all()
    for train in TRAIN_SPLITS:
        (part,) = get_split(scenario, train, ranges).parts
        assert not _on_grid(ids, part.values).any(), f"ID eval point coincides with {train}"
        assert not _on_grid(ids, part.values, tol=1e-6).any()


@pytest.mark.parametrize("scenario", KINEMATIC_SCENARIOS)
@pytest.mark.parametrize("ranges", RANGE_SETS)
def test_ood_points_are_outside_in_the_dimensions_of_their_level(scenario, ranges):
    ev = get_split(scenario, "eval", ranges)
    lab = ev.labels()
    p = ev.params()
    rset = get_ranges(ranges, scenario)
    names = ev.param_names
    levels = set(lab.level.tolist())
    for level in levels - {"id"}:
        rows = p[lab.level == level]
        assert (lab.split[lab.level == level] == "ood").all()
        if scenario == "collision":
            ood_dims = {"r1": ["r1"], "v1": ["v1"], "r1_r2": ["r1", "r2"], "v1_v2": ["v1", "v2"]}.get(level)
            ood_dims = ood_dims or {"r1_v1": ["r1", "v1"], "all": list(names)}[level]
        else:
            ood_dims = {"r_ood": ["r"], "v_ood": ["v"], "rv_ood": ["r", "v"]}[level]
        for j, name in enumerate(names):
            lo, hi = rset.r_id if name.startswith("r") else rset.v_id
            outside = (rows[:, j] < lo) | (rows[:, j] > hi)
            if name in ood_dims:
                assert outside.all(), (level, name)
                # both the low and the high OOD band are represented
                assert (rows[:, j] < lo).any(), (level, name)
                assert (rows[:, j] > hi).any(), (level, name)
            else:
                assert not outside.any(), (level, name)


def test_eval_sizes_follow_the_paper():
    def count(scenario):
        lab = get_split(scenario, "eval").labels()
        return (lab.split == "id").sum(), (lab.split == "ood").sum(), len(set(lab.level.tolist())) - 1

    n_id, n_ood, n_levels = count("uniform_motion")
    assert abs(n_id - 1050) <= 100
    assert abs(n_ood - 2400) <= 200
    assert n_levels == 3
    n_id, n_ood, n_levels = count("collision")
    assert abs(n_id - 2000) <= 400
    assert abs(n_ood - 4800) <= 200
    assert n_levels == 6
    n_id, n_ood, n_levels = count("parabola")
    assert abs(n_id - 1100) <= 100
    assert abs(n_ood - 2500) <= 200
    assert n_levels == 3


def test_paper_high_radius_band_excludes_the_id_end():
    ev = get_split("uniform_motion", "eval", "paper")
    p = ev.params()
    assert (p[:, 0] != 1.5).all()
    assert p[:, 0].max() == pytest.approx(2.0)


def test_phyworld_parabola_uses_sorted_random_values():
    (part,) = get_split("parabola", "train-30k", "phyworld").parts
    r, v = part.values
    assert (np.diff(r) > 0).all()
    assert (np.diff(v) > 0).all()
    assert not np.allclose(np.diff(v), np.diff(v)[0])
    (lin,) = get_split("parabola", "train-30k", "paper").parts
    np.testing.assert_allclose(np.diff(lin.values[1]), np.diff(lin.values[1])[0])


def test_grid_split_custom_values():
    s = grid_split("uniform_motion", "demo-train", r=np.linspace(0.7, 1.5, 20), v=np.linspace(1, 4, 50))
    assert len(s) == 1000
    assert s.name == "demo-train"
    lab = s.labels()
    assert (lab.split == "train").all()
    b = s.generate(0, 10, seed=1)
    assert b.trajectories.position.shape == (10, 32, 1, 2)
    ood = grid_split(
        "collision", "probe", split="ood", level="v1", r1=[1.0], r2=[1.0], v1=[5.0, 6.0], v2=[2.0]
    )
    assert len(ood) == 2
    assert (ood.labels().level == "v1").all()
    cfg = ood.config()
    assert cfg["n_videos"] == 2
    assert cfg["parts"][0]["values"]["v1"] == [5.0, 6.0]


# the linspace training grids experiments use (SPEC I.1 ID ranges): experiments/registry.py TINY_GRIDS
# (10/20 r x 50/100 v; collision 3/4 r x 7/8/11 v), the demo (16 r x 64 v) and its smoke preset (4 r x 8 v)
LINSPACE_COUNTS = {"r": (3, 4, 10, 16, 20), "v": (7, 8, 11, 50, 64, 100)}  # smoke's 4 r x 8 v included


def _linspace_grids(scenario: str) -> list[tuple[np.ndarray, ...]]:
    """Every product of the LINSPACE_COUNTS axes over the paper ID ranges, per parameter of ``scenario``."""
    rset = get_ranges("paper", scenario)
    names = get_split(scenario, "eval").param_names
    axes = [
        [np.linspace(*(rset.r_id if n.startswith("r") else rset.v_id), m) for m in LINSPACE_COUNTS[n[0]]]
        for n in names
    ]
    # a point is on some product of these axes iff each coordinate is on some axis: one union per parameter
    return [tuple(np.concatenate(a) for a in axes)]


@pytest.mark.parametrize("scenario", KINEMATIC_SCENARIOS)
@pytest.mark.parametrize("ranges", RANGE_SETS)
@pytest.mark.parametrize("val_name", ["val", "val-small"])
def test_val_points_are_never_eval_or_training_points(scenario, ranges, val_name):
    val = get_split(scenario, val_name, ranges)
    p = val.params()
    assert len(np.unique(p, axis=0)) == len(val)
    others = [
        part.values for name in ("eval", "eval-small") for part in get_split(scenario, name, ranges).parts
    ]
    others += [
        part.values for r in RANGE_SETS for t in TRAIN_SPLITS for part in get_split(scenario, t, r).parts
    ]
    others += _linspace_grids(scenario)
    for values in others:
        assert not _on_grid(p, values).any()
        assert not _on_grid(p, values, tol=1e-6).any()


@pytest.mark.parametrize("scenario", KINEMATIC_SCENARIOS)
@pytest.mark.parametrize("ranges", RANGE_SETS)
def test_val_has_the_levels_and_sizes_of_eval(scenario, ranges):
    for val_name, eval_name in (("val", "eval"), ("val-small", "eval-small")):
        val, ev = get_split(scenario, val_name, ranges), get_split(scenario, eval_name, ranges)
        assert [(p.split, p.level, p.shape) for p in val.parts] == [
            (p.split, p.level, p.shape) for p in ev.parts
        ]
        lab = val.labels()
        p = val.params()
        rset = get_ranges(ranges, scenario)
        for part in val.parts:  # ID coordinates inside the ID range, OOD ones inside a band of their level
            rows = p[lab.level == part.level]
            for j, name in enumerate(val.param_names):
                lo, hi = rset.r_id if name.startswith("r") else rset.v_id
                inside = (rows[:, j] > lo) & (rows[:, j] < hi)
                ev_part = next(q for q in ev.parts if q.level == part.level)
                ev_inside = (ev_part.values[j] >= lo) & (ev_part.values[j] <= hi)
                assert inside.all() if ev_inside.all() else not inside.any(), (part.level, name)
                if not ev_inside.all():  # OOD dimension: both bands, inside the bands
                    low, high = rset.r_ood if name.startswith("r") else rset.v_ood
                    assert (rows[:, j] < lo).any()
                    assert (rows[:, j] > hi).any()
                    in_low = (rows[:, j] > low[0]) & (rows[:, j] < low[1])
                    assert (in_low | ((rows[:, j] > high[0]) & (rows[:, j] < high[1]))).all()
        b_val, b_ev = val.generate(0, 4, seed=0), ev.generate(0, 4, seed=0)
        assert not np.array_equal(val.uniforms(0, 4, 0), ev.uniforms(0, 4, 0))  # own placement stream
        assert b_val.trajectories.position.shape == b_ev.trajectories.position.shape
