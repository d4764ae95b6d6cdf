"""Split unions: grids with gaps and holes (grid_minus_box), attribute-labelled parts, union_split."""

from __future__ import annotations

import numpy as np
import pytest

from phylaw.errors import PhylawError
from phylaw.render.palette import BLUE, RED
from phylaw.sim import get_split, simulate_uniforms
from phylaw.sim.splits import Part, grid_minus_box, union_split
from phylaw.sim.states import SHAPE_DISC, SHAPE_RING, SHAPE_SQUARE

R = np.linspace(0.7, 1.5, 9)
V = np.linspace(1.0, 4.0, 13)
BOX = {"r": (0.85, 1.15), "v": (2.0, 3.0)}  # r 0.9, 1.0, 1.1 and v 2.0 ... 3.0 inside


def _rows(parts) -> set[tuple[float, ...]]:
    out = []
    for p in parts:
        grid = np.stack(np.meshgrid(*p.values, indexing="ij"), -1).reshape(-1, len(p.values))
        out += [tuple(x) for x in grid]
    assert len(out) == len(set(out)), "parts overlap"
    return set(out)


def test_grid_minus_box_is_the_grid_without_the_hole():
    parts = grid_minus_box("train", "train", {"r": R, "v": V}, BOX)
    r_in = ((R >= 0.85) & (R <= 1.15)).sum()
    v_in = ((V >= 2.0) & (V <= 3.0)).sum()
    assert (r_in, v_in) == (3, 5)
    assert sum(p.size for p in parts) == len(R) * len(V) - r_in * v_in
    got = _rows(parts)
    want = {(r, v) for r in R for v in V if not (0.85 <= r <= 1.15 and 2.0 <= v <= 3.0)}
    assert got == want
    assert all(p.split == "train" and p.level == "train" and p.names == ("r", "v") for p in parts)


def test_a_box_on_one_axis_is_a_gap():
    (part,) = grid_minus_box("train", "gap", {"r": R, "v": V}, {"v": (2.0, 3.0)})
    np.testing.assert_array_equal(part.values[0], R)
    np.testing.assert_array_equal(part.values[1], V[(V < 2.0) | (V > 3.0)])
    assert grid_minus_box("train", "all", {"r": R, "v": V}, {"r": (0.0, 9.0)}) == ()
    with pytest.raises(PhylawError, match="not grid parameters"):
        grid_minus_box("train", "x", {"r": R, "v": V}, {"q": (0, 1)})


def _union():
    holed = grid_minus_box("train", "train", {"v": V, "r": R}, {"v": BOX["v"], "r": BOX["r"]})  # other order
    hole = Part("ood", "hole", (R[(R >= 0.85) & (R <= 1.15)], V[(V >= 2.0) & (V <= 3.0)]))
    blue_squares = Part("ood", "blue_square", (R[:2], V[:3]), {"color": "blue", "shape": "square"})
    return union_split("uniform_motion", "holed", [holed, hole, blue_squares], n_frames=8)


def test_union_split_sizes_labels_and_attributes():
    split = _union()
    assert len(split) == 9 * 13 + 6
    p = split.params()
    lab = split.labels()
    batch = split.generate(0, len(split), seed=3)
    st = batch.trajectories
    inside = (p[:, 0] >= 0.85) & (p[:, 0] <= 1.15) & (p[:, 1] >= 2.0) & (p[:, 1] <= 3.0)
    assert inside.sum() == 15
    assert (lab.level[inside] == "hole").all()  # no training point inside the hole
    assert (lab.split[lab.level == "train"] == "train").all()
    blue = lab.level == "blue_square"
    assert blue.sum() == 6
    assert (st.color[blue] == BLUE).all()
    assert (st.shape[blue] == SHAPE_SQUARE).all()
    assert (st.color[~blue] == RED).all()
    assert (st.shape[~blue] == SHAPE_DISC).all()
    # attributes change the appearance only: the motion is the scenario's for the same draws
    plain = simulate_uniforms("uniform_motion", p, split.uniforms(0, len(split), 3), 8)
    np.testing.assert_array_equal(st.position, plain.position)
    np.testing.assert_array_equal(st.radius, plain.radius)
    # named parts were put in the scenario's order (r, v)
    assert p[:, 0].max() <= 1.5
    assert p[:, 1].min() >= 1.0


def test_union_split_is_deterministic_and_sliceable():
    a, b = _union().generate(0, 123, seed=9), _union().generate(0, 123, seed=9)
    np.testing.assert_array_equal(a.params, b.params)
    np.testing.assert_array_equal(a.trajectories.position, b.trajectories.position)
    np.testing.assert_array_equal(a.trajectories.color, b.trajectories.color)
    part = _union().generate(40, 90, seed=9)
    np.testing.assert_array_equal(part.trajectories.color, a.trajectories.color[40:90])
    np.testing.assert_array_equal(part.trajectories.shape, a.trajectories.shape[40:90])
    np.testing.assert_array_equal(part.params, a.params[40:90])


def test_config_names_attributes_only_when_set():
    cfg = _union().config()
    assert cfg["parts"][-1]["attributes"] == {"color": [BLUE], "shape": [SHAPE_SQUARE]}
    assert "attributes" not in cfg["parts"][0]
    assert all("attributes" not in p for p in get_split("collision", "eval").config()["parts"])


def test_per_object_attributes_in_collision():
    part = Part("train", "rings", ([1.0], [1.0], [1.0, 2.0], [1.0]), {"color": (BLUE, RED), "shape": "ring"})
    st = union_split("collision", "rings", [part], n_frames=8).generate(0, 2, seed=0).trajectories
    np.testing.assert_array_equal(st.color, [[BLUE, RED]] * 2)
    assert (st.shape == SHAPE_RING).all()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: Part("train", "x", (R, V), {"size": 2}), "unknown attribute 'size'"),
        (lambda: Part("train", "x", (R, V), {"color": "mauve"}), "unknown colour 'mauve'"),
        (lambda: Part("train", "x", (R, V), {"shape": 9}), "unknown shape id 9"),
        (
            lambda: union_split("collision", "c", [Part("train", "x", ([1.0],) * 4, {"color": (1, 2, 1)})]),
            "needs 1 or 2 ids",
        ),
        (lambda: union_split("uniform_motion", "o", [Part("train", "a", (R, V)), Part("train", "b", (R[:1], V))]),
         "share parameter vectors"),
        (lambda: union_split("uniform_motion", "n", []), "has no parts"),
        (lambda: union_split("uniform_motion", "w", [Part("train", "a", (R, V), names=("r", "q"))]),
         "parameters ('r', 'q')"),
        (lambda: union_split("uniform_motion", "p", [Part("train", "a", (R,))]), "one value list per parameter"),
    ],
)  # fmt: skip
def test_bad_parts_are_one_line_errors(make, words):
    with pytest.raises(PhylawError, match=None) as err:
        make()
    assert words in str(err.value)
    assert "\n" not in str(err.value)


def test_overlap_is_allowed_on_request_or_with_other_attributes():
    a, b = Part("train", "a", (R, V)), Part("train", "b", (R[:1], V))
    assert len(union_split("uniform_motion", "o", [a, b], allow_overlap=True)) == len(R) * len(V) + len(V)
    c = Part("train", "c", (R, V), {"color": "blue"})
    assert len(union_split("uniform_motion", "o", [a, c])) == 2 * len(R) * len(V)


def test_a_union_dataset_stores_its_attributes(tmp_path):
    from phylaw.datasets import generate, open_dataset

    split = _union()
    path = generate(
        "uniform_motion", split, tmp_path / "u.h5", resolution=16, procedural=True, progress=False
    )
    ds = open_dataset(path)
    st = ds.trajectories()
    lab = ds.labels
    assert (st.color[lab.level == "blue_square"] == BLUE).all()
    assert (st.shape[lab.level == "blue_square"] == SHAPE_SQUARE).all()
    assert (st.color[lab.level != "blue_square"] == RED).all()
