"""Mechanism-study splits (SPEC B.6.1–B.6.3): gaps, holes, memorisation; hull labels; bad settings."""

from __future__ import annotations

import numpy as np
import pytest

from phylaw.errors import PhylawError
from phylaw.sim import get_split, list_splits
from phylaw.sim.studies import (
    GAP_SETTINGS,
    HOLE_SETTINGS,
    STUDY_SPLITS,
    GapSetting,
    HoleSetting,
    Interval,
    check_holes,
    convex_hull,
    gap_setting,
    hole_base,
    hole_train,
    split_counts,
    study_split,
    train_plane_points,
)

PLANE_COLUMNS = {("v1", "v2"): [2, 3], ("r1", "r2"): [0, 1]}


def _params(scenario: str, name: str, ranges: str = "paper") -> np.ndarray:
    return get_split(scenario, name, ranges).params()


@pytest.mark.parametrize("setting", list(GAP_SETTINGS))
@pytest.mark.parametrize("size", ["-tiny", "-small", "-release"])
def test_gap_training_sets_hold_no_speed_of_the_gap(setting, size):
    g = GAP_SETTINGS[setting]
    p = _params("uniform_motion", setting + size)
    v = p[:, 1]
    assert (g.label(v) == "seen").all()
    for gap in g.removed():
        assert not gap.contains(v).any()
    for band in g.bands:  # every band is trained on, up to its ends
        inside = v[band.contains(v)]
        assert len(inside) >= 2
        assert inside.max() - inside.min() >= 0.9 * band.width
    assert len(np.unique(p, axis=0)) == len(p)


def test_gap_sets_have_equal_sizes_and_the_release_sizes():
    for size, n in (("", 200_000), ("-small", 20_000), ("-tiny", 2_000)):
        assert {len(get_split("uniform_motion", g + size)) for g in GAP_SETTINGS} == {n}
    release = {"gap-2.0-3.0": 199_800, "gap-1.75-3.25": 150_000, "gap-1.5-3.5": 100_200,
               "gap-1.25-3.75": 50_400, "gap-n3": 75_600, "gap-n4": 100_200}  # fmt: skip
    for name, n in release.items():  # SPEC B.6.1: the released generator's 1000 v x 300 r filter
        assert len(get_split("uniform_motion", name + "-release", "phyworld")) == n


def test_gap_removed_bands_and_reintroduced_ranges():
    assert [(b.lo, b.hi) for b in GAP_SETTINGS["gap-1.25-3.75"].removed()] == [(1.25, 3.75)]
    assert [(b.lo, b.hi) for b in GAP_SETTINGS["gap-n3"].bands] == [(1.0, 1.25), (2.375, 2.625), (3.75, 4.0)]
    n4 = [(b.lo, b.hi) for b in GAP_SETTINGS["gap-n4"].bands]
    assert n4 == [(1.0, 1.25), (1.875, 2.125), (2.875, 3.125), (3.75, 4.0)]
    assert [(b.lo, b.hi) for b in GAP_SETTINGS["gap-n3"].removed()] == [(1.25, 2.375), (2.625, 3.75)]
    g = GAP_SETTINGS["gap-2.0-3.0"]
    assert g.label(np.array([1.99, 2.0, 2.5, 3.0, 3.01, 0.5])).tolist() == [
        "seen", "gap", "gap", "gap", "seen", "outside",
    ]  # fmt: skip
    assert split_counts(100, [0.25, 0.25, 0.5]) == [25, 25, 50]
    assert sum(split_counts(1000, [0.25, 0.25, 0.25])) == 1000


@pytest.mark.parametrize("setting", list(GAP_SETTINGS))
def test_gap_eval_points_are_labelled_seen_or_gap(setting):
    g = GAP_SETTINGS[setting]
    s = get_split("uniform_motion", setting + "-eval-small")
    p, lab = s.params(), s.labels()
    assert set(lab.level) == {"seen", "gap"}
    np.testing.assert_array_equal(lab.level, g.label(p[:, 1]))
    np.testing.assert_array_equal(lab.split == "id", lab.level == "seen")
    assert p[:, 1].min() > 1.0
    assert p[:, 1].max() < 4.0
    assert len(get_split("uniform_motion", setting + "-eval")) == 36 * 120


@pytest.mark.parametrize("setting", list(HOLE_SETTINGS))
@pytest.mark.parametrize("size", ["-tiny", "-small"])
def test_hole_training_sets_hold_no_point_of_the_hole(setting, size):
    h = HOLE_SETTINGS[setting]
    p = _params("collision", setting + size)
    a, b = p[:, PLANE_COLUMNS[h.plane]].T
    assert not h.removed(a, b).any()
    base = hole_base(size, "paper")
    full = np.prod([len(v) for v in base.values()])
    aa, bb = np.meshgrid(base[h.plane[0]], base[h.plane[1]], indexing="ij")
    per_point = full // aa.size
    assert len(p) == full - h.removed(aa, bb).sum() * per_point  # only the hole is missing
    assert len(np.unique(p, axis=0)) == len(p)


def test_hole_sizes_on_the_release_base_grid():
    """SPEC B.6.2 sizes of the 1.6M (61 v x 21 r) base grid; hole-1.1-3.9 and hole-three keep the grid values
    that float rounding puts just outside a closed end (v = 3.9, 3.7), which the release drops."""
    sizes = {"hole-2.0-3.0": 1_446_480, "hole-1.75-3.25": 1_217_160, "hole-1.5-3.5": 899_640,
             "hole-1.25-3.75": 493_920, "hole-half": 306_936, "hole-1.1-3.9": 208_152, "hole-three": 1_177_470}  # fmt: skip
    for name, n in sizes.items():
        assert len(get_split("collision", name)) == n


def test_the_half_set_keeps_v_up_to_1_25_on_either_ball():
    p = _params("collision", "hole-half-tiny")
    v1, v2 = p[:, 2], p[:, 3]
    assert ((v1 <= 1.25) | (v2 <= 1.25)).all()
    assert (v1 == 1.25).any()
    assert (v2 == 1.25).any()
    assert (v1 == 4.0).any()
    assert (v2 == 4.0).any()


def _hull_inside(points: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Brute force: a point is inside when adding it leaves the hull area unchanged."""
    from scipy.spatial import ConvexHull

    base = ConvexHull(train).volume
    return np.array([ConvexHull(np.vstack([train, q])).volume <= base + 1e-9 for q in points])


@pytest.mark.parametrize("setting", list(HOLE_SETTINGS))
def test_hole_eval_points_are_labelled_by_the_training_hull(setting):
    h = HOLE_SETTINGS[setting]
    s = get_split("collision", setting + "-eval-small")
    p, lab = s.params(), s.labels()
    assert set(lab.level) <= {"seen", "in_hull", "out_of_hull"}
    np.testing.assert_array_equal(lab.split == "id", lab.level == "seen")
    plane = p[:, PLANE_COLUMNS[h.plane]]
    train = train_plane_points(h, hole_base("", "paper"))
    points, where = np.unique(plane, axis=0, return_inverse=True)
    inside = _hull_inside(points, train)[where.reshape(-1)]
    seen = lab.level == "seen"
    assert not h.removed(*plane[seen].T).any()
    assert inside[seen].all()
    np.testing.assert_array_equal(inside[~seen], lab.level[~seen] == "in_hull")
    assert h.removed(*plane[lab.level == "in_hull"].T).all()


def test_hull_shapes_of_the_hole_settings():
    levels = {n: set(get_split("collision", n + "-eval-small").labels().level) for n in HOLE_SETTINGS}
    assert all(v == {"seen", "in_hull", "out_of_hull"} for v in levels.values())
    half = get_split("collision", "hole-half-eval-small")
    p, lab = half.params(), half.labels().level
    corner = (p[:, 2] == 4.0) & (p[:, 3] == 4.0)  # far from the L: outside its hull
    assert (lab[corner] == "out_of_hull").all()
    square = get_split("collision", "hole-2.0-3.0-eval-small")
    p, lab = square.params(), square.labels().level
    assert (lab[(p[:, 2] == 2.5) & (p[:, 3] == 2.5)] == "in_hull").all()  # the centre of the square hole
    assert (lab[p[:, 2] < 1.0] == "out_of_hull").all()  # v1 below every training speed


def test_convex_hull_of_a_known_point_set():
    corners = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 1.0], [0.0, 1.0]])
    inner = np.array([[1.0, 0.5], [0.5, 0.2], [1.0, 0.0]])  # the last one on an edge
    hull = convex_hull(np.vstack([inner, corners, corners]))
    assert {tuple(v) for v in hull.vertices} == {tuple(c) for c in corners}
    assert len(hull.vertices) == 4
    q = np.array([[1.0, 0.5], [2.0, 1.0], [1.0, 0.0], [2.01, 0.5], [-0.01, 0.5], [1.0, 1.2]])
    assert hull.contains(q).tolist() == [True, True, True, False, False, False]
    triangle = convex_hull(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.2, 0.2]]))
    assert triangle.contains(np.array([[0.5, 0.5], [0.51, 0.5]])).tolist() == [True, False]
    with pytest.raises(PhylawError, match="collinear"):
        convex_hull(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]))
    with pytest.raises(PhylawError, match="3 points"):
        convex_hull(np.array([[0.0, 0.0], [1.0, 1.0]]))


def test_memorisation_splits():
    train = _params("uniform_motion", "memo-train-tiny")
    assert train[:, 1].min() == 2.5
    assert train[:, 1].max() == 4.0
    assert len(get_split("uniform_motion", "memo-train")) == 300_000
    s = get_split("uniform_motion", "memo-eval-small")
    p, lab = s.params(), s.labels()
    low = lab.level == "low"
    assert (p[low, 1] >= 1.0).all()
    assert (p[low, 1] < 2.5).all()
    assert (p[~low, 1] >= 2.5).all()
    assert (p[~low, 1] <= 4.0).all()
    np.testing.assert_array_equal(lab.split == "ood", low)


def _pairs():
    for name, s in STUDY_SPLITS.items():
        if s.role == "eval":
            train = {"gap": s.setting, "hole": s.setting, "memo": "memo-train"}[s.study]
            for size in ("-tiny", "-small"):
                yield name, train + size, s.scenario


@pytest.mark.parametrize(("eval_name", "train_name", "scenario"), list(_pairs()))
def test_no_evaluation_vector_is_a_training_vector(eval_name, train_name, scenario):
    ev = _params(scenario, eval_name)
    tr = _params(scenario, train_name)
    both = np.concatenate([ev, tr])
    assert len(np.unique(both, axis=0)) == len(ev) + len(tr)


def test_study_splits_belong_to_their_scenario_only():
    shared = list_splits()
    assert list_splits("parabola") == shared
    uni, col = list_splits("uniform_motion"), list_splits("collision")
    assert uni[: len(shared)] == shared
    assert col[: len(shared)] == shared
    assert "gap-2.0-3.0" in uni
    assert "memo-train" in uni
    assert "gap-2.0-3.0" not in col
    assert "hole-half" in col
    assert "hole-half" not in uni
    with pytest.raises(PhylawError, match=r"unknown split 'gap-2\.0-3\.0' for parabola"):
        get_split("parabola", "gap-2.0-3.0")
    with pytest.raises(PhylawError, match="unknown split 'hole-half' for uniform_motion"):
        get_split("uniform_motion", "hole-half")
    assert study_split("hole-half-eval").role == "eval"
    with pytest.raises(PhylawError, match="not a study split"):
        study_split("eval")


def test_study_splits_are_deterministic_and_versioned():
    a = get_split("collision", "hole-half-tiny", n_frames=16).generate(0, 50, seed=3)
    b = get_split("collision", "hole-half-tiny", n_frames=16).generate(20, 50, seed=3)
    np.testing.assert_array_equal(a.params[20:], b.params)
    np.testing.assert_array_equal(a.trajectories.position[20:], b.trajectories.position)
    assert get_split("uniform_motion", "gap-n3").version == "1"


def test_bad_gap_settings_are_one_line_errors():
    cases = [
        (lambda: gap_setting("all", [(0.5, 4.5)]), "removes the whole range"),
        (lambda: gap_setting("all2", [(1.0, 4.0)]), "removes the whole range"),
        (lambda: gap_setting("rev", [(3.0, 2.0)]), "reversed"),
        (lambda: gap_setting("flat", [(2.0, 2.0)]), "reversed or empty"),
        (lambda: gap_setting("ovl", [(1.5, 2.5), (2.0, 3.0)]), "overlap"),
        (lambda: gap_setting("far", [(5.0, 6.0)]), "outside the range"),
        (lambda: GapSetting("bands", (Interval(1.0, 2.0), Interval(1.5, 3.0))), "overlap or are out of order"),
        (lambda: GapSetting("order", (Interval(3.0, 4.0), Interval(1.0, 2.0))), "overlap or are out of order"),
        (lambda: GapSetting("none", ()), "removes the whole range"),
        (lambda: GapSetting("out", (Interval(0.5, 2.0),)), "outside the range"),
        (lambda: Interval(2.0, 1.0), "reversed"),
    ]
    for make, message in cases:
        with pytest.raises(PhylawError, match=message) as exc:
            make()
        assert "\n" not in str(exc.value)
    ok = gap_setting("two", [(1.5, 2.0), (3.0, 3.5)])
    assert [(b.lo, b.hi, b.lo_open, b.hi_open) for b in ok.bands] == [
        (1.0, 1.5, False, True), (2.0, 3.0, True, True), (3.5, 4.0, True, False),
    ]  # fmt: skip


def test_bad_hole_settings_are_one_line_errors():
    base = hole_base("-tiny", "paper")
    outside = HoleSetting("far", ("v1", "v2"), ((Interval(5.0, 6.0), Interval(1.0, 2.0)),))
    with pytest.raises(PhylawError, match="lies outside the grid"):
        check_holes(outside, base)
    with pytest.raises(PhylawError, match="lies outside the grid"):
        hole_train(outside, "-tiny", "paper", 16)
    everything = HoleSetting("all", ("r1", "r2"), ((Interval(0.0, 2.0), Interval(0.0, 2.0)),))
    with pytest.raises(PhylawError, match="removes every point"):
        check_holes(everything, base)
    with pytest.raises(PhylawError, match="plane must be two of"):
        HoleSetting("p", ("v1", "q"), ((Interval(1.0, 2.0), Interval(1.0, 2.0)),))
    with pytest.raises(PhylawError, match="removes nothing"):
        HoleSetting("e", ("v1", "v2"), ())
