"""Renderer: soft-edge values, geometry conventions, compositing, shapes, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from phylaw.errors import PhylawError
from phylaw.render import COLORS, color_id, color_name, render, render_video
from phylaw.sim import get_split
from phylaw.sim.trajectory import SHAPE_DISC, SHAPE_RING, SHAPE_SQUARE, Trajectories


def make_traj(xy, radius, color=None, shape=None) -> Trajectories:
    """One frame, one video; xy (K, 2), radius (K,)."""
    xy = np.asarray(xy, dtype=np.float64)[None, None]  # (1, 1, K, 2)
    k = xy.shape[2]
    return Trajectories(
        scenario="test",
        position=xy,
        velocity=np.zeros_like(xy),
        radius=np.asarray(radius, dtype=np.float64)[None],
        color=np.asarray(color if color is not None else [1] * k, dtype=np.uint8)[None],
        shape=np.asarray(shape if shape is not None else [SHAPE_DISC] * k, dtype=np.uint8)[None],
        in_view=np.ones((1, 1, k), dtype=bool),
        contact_time=np.full(1, np.nan),
        contact_frame=np.full(1, -1, dtype=np.int32),
    )


def full_frame_reference(tr: Trajectories, res: int, pixel_units: bool = True) -> np.ndarray:
    """Straightforward full-frame soft-disc compositing, frame by frame (the B.0 formula, float64)."""
    n, t, k, _ = tr.position.shape
    s = res / 10 if pixel_units else 1.0
    c = (np.arange(res) + 0.5) * (1.0 if pixel_units else 10 / res)
    xx, yy = c[None, :], c[:, None]  # column / row coordinates (rows counted from the top)
    out = np.full((n, t, res, res, 3), 255, dtype=np.uint8)
    for i in range(n):
        for f in range(t):
            for o in range(k):
                (x, y), r = tr.position[i, f, o] * s, tr.radius[i, o] * s
                d2 = (xx - x) ** 2 + (yy - (10 * s - y)) ** 2
                m = np.clip((r * r - d2) / (0.03 * r * r), 0, 1)[..., None]
                col = np.array(COLORS[int(tr.color[i, o])], dtype=np.float64)
                cur = out[i, f].astype(np.float64)
                out[i, f] = np.rint(cur + m * (col - cur)).astype(np.uint8)
    return out


@pytest.mark.parametrize("res", [8, 21, 64])
def test_matches_full_frame_reference(res):
    tr = get_split("collision", "eval").generate(0, 6, seed=2).trajectories
    frames = render(tr, res)
    np.testing.assert_array_equal(frames, full_frame_reference(tr, res))
    # the same formula in world units differs at most by one level where rounding ties flip
    world = full_frame_reference(tr, res, pixel_units=False)
    assert np.abs(frames.astype(int) - world).max() <= 1


def test_soft_edge_values():
    # disc of radius 2 on a 100^2 grid (0.1 world units per pixel); the pixel of column 70 (centre x = 7.05)
    # lies at d = 1.985 from the centre x = 5.065, inside the soft band r^2 (1 - 0.03) < d^2 < r^2
    res, r, cx = 100, 2.0, 5.065
    frame = render(make_traj([[cx, 4.95]], [r]), res)[0, 0]
    row = frame[50]  # image row 50 has centre y = 10 - 50.5 * 0.1 = 4.95
    assert tuple(row[50]) == (255, 0, 0)  # inside: fully red
    d = (np.arange(res) + 0.5) * 0.1 - cx
    m = np.clip((r * r - d * d) / (0.03 * r * r), 0, 1)
    expected = np.rint(255 + m * (0 - 255)).astype(np.uint8)
    np.testing.assert_array_equal(row[:, 1], expected)
    np.testing.assert_array_equal(row[:, 2], expected)
    assert (row[:, 0] == 255).all()
    assert row[70, 1] == 128  # m = (4 - 1.985^2) / 0.12 = 0.498 -> 255 * 0.502 = 128.0
    assert (row[71:, 1] == 255).all()
    assert (row[31:70, 1] == 0).all()


def test_y_up_and_pixel_centres():
    frame = render(make_traj([[1.0, 9.0]], [1.0]), 10)[0, 0]  # top-left corner of the world
    red = (frame[..., 1] < 128) & (frame[..., 0] > 127)
    assert red[0, 0]
    assert not red[-1, 0]
    assert not red[0, -1]


def test_later_objects_on_top_and_colours():
    tr = make_traj([[5.0, 5.0], [5.0, 5.0]], [2.0, 1.0], color=[color_id("red"), color_id("blue")])
    frame = render(tr, 64)[0, 0]
    assert tuple(frame[32, 32]) == (0, 0, 255)
    assert tuple(frame[32, 32 + 9]) == (255, 0, 0)  # 1.4 units from the centre: only the red disc
    assert tuple(frame[0, 0]) == (255, 255, 255)
    assert color_name(2) == "blue"
    with pytest.raises(PhylawError, match="unknown colour"):
        color_id("teal")


def test_square_and_ring():
    res = 100
    sq = render(make_traj([[5.0, 5.0]], [1.0], shape=[SHAPE_SQUARE]), res)[0, 0]
    red = sq[..., 1] == 0
    assert red.sum() == 20 * 20  # side 2r = 2 units = 20 pixels, hard edge
    assert set(np.unique(sq[..., 1])) == {0, 255}
    ring = render(make_traj([[5.0, 5.0]], [2.0], shape=[SHAPE_RING]), res)[0, 0]
    assert tuple(ring[49, 49]) == (255, 255, 255)  # hole in the middle
    row = ring[49, 50:]  # from the centre to the right
    dist = (np.arange(50, 100) + 0.5) * 0.1 - 5.0
    full = (dist > 0.6 * 2.0 * 1.01) & (dist < 2.0 * 0.98)
    assert (row[full, 1] == 0).all()
    assert (row[dist < 1.15, 1] == 255).all()
    assert (row[dist > 2.0, 1] == 255).all()


def test_objects_outside_or_at_the_border():
    tr = make_traj([[-5.0, 5.0], [0.2, 9.9], [20.0, 20.0]], [1.0, 1.0, 0.5])
    frame = render(tr, 32)[0, 0]
    ref = full_frame_reference(tr, 32)[0, 0]
    np.testing.assert_array_equal(frame, ref)
    assert (frame[..., 1] < 255).sum() > 0


def test_indices_frames_out_and_render_video():
    tr = get_split("uniform_motion", "eval").generate(0, 5, seed=1).trajectories
    full = render(tr, 16)
    np.testing.assert_array_equal(render(tr, 16, indices=[3, 1], frames=[0, 5]), full[[3, 1]][:, [0, 5]])
    np.testing.assert_array_equal(render_video(tr, 2, 16), full[2])
    out = np.zeros((5, 32, 16, 16, 3), dtype=np.uint8)
    assert render(tr, 16, out=out) is out
    np.testing.assert_array_equal(out, full)
    assert full.dtype == np.uint8
    assert full.shape == (5, 32, 16, 16, 3)


@pytest.mark.parametrize("res", [0, 7, 7.5, -16])
def test_bad_resolution(res):
    tr = make_traj([[5.0, 5.0]], [1.0])
    with pytest.raises(PhylawError, match="resolution"):
        render(tr, res)


def test_bad_render_inputs():
    with pytest.raises(PhylawError, match="radii"):
        render(make_traj([[5.0, 5.0]], [-1.0]), 16)
    with pytest.raises(PhylawError, match="palette id"):
        render(make_traj([[5.0, 5.0]], [1.0], color=[200]), 16)
    with pytest.raises(PhylawError, match="out must be"):
        render(make_traj([[5.0, 5.0]], [1.0]), 16, out=np.zeros((1, 1, 8, 8, 3), np.uint8))
    with pytest.raises(PhylawError, match="outside the batch"):
        render_video(make_traj([[5.0, 5.0]], [1.0]), 3, 16)


def test_with_appearance_draws_other_colours_and_shapes():
    tr = get_split("uniform_motion", "eval").generate(0, 4, seed=1).trajectories
    blue_squares = tr.with_appearance(color=color_id("blue"), shape=SHAPE_SQUARE)
    assert (blue_squares.color == 2).all()
    assert (tr.color == 1).all()  # the original is unchanged
    frames = render(blue_squares, 32)
    assert (frames[..., 2] == 255).all()  # blue channel never reduced: only white and blue pixels
    assert set(np.unique(frames[..., 0])) == {0, 255}  # hard-edged squares
    np.testing.assert_array_equal(blue_squares.position, tr.position)
