"""Parser: exact moments, render -> parse round trip, shapes, missing objects, lossy MP4, bad input."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from phylaw.errors import PhylawError
from phylaw.evaluate import _moments
from phylaw.evaluate.parse import DEFAULT_PALETTE, ColorRule, Palette, parse
from phylaw.render import render
from phylaw.sim.kinematics import simulate
from phylaw.sim.trajectory import SHAPE_DISC, SHAPE_RING, SHAPE_SQUARE, WORLD_SIZE


def _reference_stats(frames: np.ndarray, palette: Palette) -> np.ndarray:
    """Plain numpy masks of every frame: area, sum_j, sum_i, bbox, centre hole (what the kernel must equal)."""
    out = np.zeros((frames.shape[0], len(palette.rules), 8), dtype=np.int64)
    for f, frame in enumerate(frames):
        for k, rule in enumerate(palette.rules):
            m = np.all((frame >= np.array(rule.lo)) & (frame <= np.array(rule.hi)), axis=-1)
            ii, jj = np.nonzero(m)
            out[f, k, :3] = [m.sum(), jj.sum(), ii.sum()]
            out[f, k, 3:7] = (
                [jj.min(), jj.max(), ii.min(), ii.max()]
                if len(ii)
                else [frame.shape[1], -1, frame.shape[0], -1]
            )
            if len(ii):
                ci, cj = (int(np.floor(c.mean() + 0.5)) for c in (ii, jj))
                out[f, k, 7] = not m[ci, cj]
    return out


@pytest.mark.parametrize(("width", "density"), [(32, 1.0), (37, 1.0), (64, 0.02), (40, 0.05)])
def test_kernel_matches_numpy_masks_on_noise(rng, width, density):
    frames = rng.integers(0, 256, size=(6, 24, width, 3), dtype=np.uint8)
    frames[rng.random(frames.shape[:3]) > density] = 255  # sparse: dark pixels in separate runs of a row
    frames[0] = 255  # an empty frame
    frames[1, :, :, :] = (250, 250, 250)  # near-white rows only
    palette = Palette((*DEFAULT_PALETTE.rules, ColorRule("yellow", 5, (128, 128, 0), (255, 255, 126))))
    lo = np.array([r.lo for r in palette.rules])
    hi = np.array([r.hi for r in palette.rules])
    np.testing.assert_array_equal(_moments.frame_moments(frames, lo, hi), _reference_stats(frames, palette))


def _traj(scenario, params, rng):
    return simulate(scenario, np.array(params, dtype=float), rng)


@pytest.mark.parametrize("res", [64, 128])
def test_render_parse_round_trip(rng, res):
    traj = _traj("collision", [[0.8, 1.1, 2.0, 1.5], [0.5, 0.7, 3.0, 3.0]], rng)
    parsed = parse(render(traj, res))
    px = WORLD_SIZE / res
    view = traj.in_view  # (n, T, K) fully in view: centroid and radius are well defined
    err = np.linalg.norm(parsed.center[:, :, (0, 1)] - traj.position, axis=-1)[view]
    assert err.max() < 0.5 * px
    rerr = np.abs(parsed.radius[:, :, (0, 1)] - traj.radius[:, None, :])[view]
    assert rerr.max() < 1.0 * px
    assert parsed.visible[:, :, :2][view].all()


def test_shape_descriptor_disc_square_ring(rng):
    base = _traj("uniform_motion", [[1.2, 1.0]] * 3, rng)
    shape = np.array([[SHAPE_DISC], [SHAPE_SQUARE], [SHAPE_RING]], dtype=np.uint8)
    traj = replace(base, shape=shape)
    parsed = parse(render(traj, 128))
    for v, want in enumerate((SHAPE_DISC, SHAPE_SQUARE, SHAPE_RING)):
        seen = parsed.shape[v, :, 0][traj.in_view[v, :, 0]]
        assert (seen == want).all(), (want, seen)
    assert 0.7 < np.nanmean(parsed.fill[0, :, 0]) < 0.85  # disc ~ pi/4


def test_missing_object_is_nan_never_invented(rng):
    traj = _traj("uniform_motion", [[1.0, 2.0]], rng)
    frames = render(traj, 64)
    frames[0, 5:8] = 255  # ball removed from frames 5, 6, 7
    parsed = parse(frames)
    assert not parsed.visible[0, 5:8, 0].any()
    assert np.isnan(parsed.center[0, 5:8, 0]).all()
    assert np.isnan(parsed.radius[0, 5:8, 0]).all()
    assert parsed.visible[0, :5, 0].all()
    assert not parsed.visible[..., 1].any()  # no blue ball in a uniform-motion video
    assert np.isnan(parsed.center[..., 1, :]).all()


def test_min_area_threshold():
    frames = np.full((1, 2, 32, 32, 3), 255, np.uint8)
    frames[0, 0, 3, 3] = (255, 0, 0)  # one stray pixel
    frames[0, 1, 3:5, 3:5] = (255, 0, 0)  # four pixels
    p = parse(frames, min_area=4)
    assert p.visible[0, :, 0].tolist() == [False, True]
    assert p.area[0, :, 0].tolist() == [1, 4]


def test_lossy_mp4_decoding(tmp_path, rng):
    iio = pytest.importorskip("imageio.v3")
    traj = _traj("collision", [[0.9, 1.0, 2.0, 2.0]], rng)
    frames = render(traj, 128)[0]
    path = tmp_path / "v.mp4"
    iio.imwrite(path, frames, plugin="pyav", codec="libx264", fps=10)
    decoded = iio.imread(path, plugin="pyav", index=None)
    assert decoded.shape == frames.shape
    assert not np.array_equal(decoded, frames)
    clean, lossy = parse(frames), parse(decoded)
    view = traj.in_view[0]
    px = WORLD_SIZE / 128
    diff = np.linalg.norm(lossy.center[0, :, :2] - clean.center[0, :, :2], axis=-1)[view]
    assert lossy.visible[0, :, :2][view].all()
    assert diff.max() < 1.0 * px


def test_bad_input():
    with pytest.raises(PhylawError, match="uint8"):
        parse(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(PhylawError, match="shape"):
        parse(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(PhylawError, match="empty"):
        parse(np.zeros((0, 8, 8, 3), np.uint8))
    with pytest.raises(PhylawError, match="white"):
        ColorRule("white", 9, (200, 200, 200), (255, 255, 255))
    with pytest.raises(PhylawError, match="bad colour rule"):
        Palette.from_string("red:1:128-255,0-126")
    with pytest.raises(PhylawError, match="not unique"):
        Palette.from_string("a:1:128-255,0-126,0-126;b:1:0-126,0-126,128-255")
    p = Palette.from_string("red:1:128-255,0-126,0-126; blue:2:0-126,0-126,128-255")
    assert p == DEFAULT_PALETTE


def test_linspace_pixel_convention_of_imported_phyworld_data():
    """The released renderer puts pixel j at j·10/(W − 1) and flips rows (SPEC B.0): parse it unbiased."""
    w = 64
    grid = np.linspace(0, WORLD_SIZE, w)
    xx, yy = np.meshgrid(grid, grid)
    cx, cy, r = 3.3, 6.1, 1.2
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r  # row index grows with y ...
    frame = np.full((1, w, w, 3), 255, np.uint8)
    frame[0, disc[::-1]] = (255, 0, 0)  # ... then flipped so that y points up
    lin = parse(frame, convention="linspace")
    assert np.abs(lin.center[0, 0, 0] - [cx, cy]).max() < 0.02
    centre = parse(frame)
    assert np.abs(centre.center[0, 0, 0] - [cx, cy]).max() > 0.03  # the wrong convention is visibly biased
    with pytest.raises(PhylawError, match="pixel convention"):
        parse(frame, convention="corner")


def test_largest_blob_ignores_stray_pixels(rng):
    traj = _traj("collision", [[1.0, 0.8, 2.0, 2.0]], rng)
    frames = render(traj, 64)
    clean = parse(frames)
    frames[0, :, 60:63, 1:4] = (255, 0, 0)  # a stray 3x3 red blob in the bottom-left corner of every frame
    frames[0, :, 0:2, 62:64] = (0, 0, 255)  # and a 2x2 blue one top right
    plain, robust = parse(frames), parse(frames, largest_blob=True)
    view = traj.in_view[0]
    err_plain = np.abs(plain.center[0, :, :2] - clean.center[0, :, :2])[view]
    np.testing.assert_array_equal(robust.center[0, :, :2][view], clean.center[0, :, :2][view])
    np.testing.assert_array_equal(robust.area[0, :, :2][view], clean.area[0, :, :2][view])
    np.testing.assert_array_equal(robust.shape[0, :, :2][view], clean.shape[0, :, :2][view])
    assert err_plain.max() > 0.05  # the paper's parser is pulled by the blob


def _two_red(rng, params):
    truth = _traj("collision", params, rng)
    red = replace(truth, color=np.ones_like(truth.color))
    return truth, red


def _apart(truth, px):
    """(n, T) frames where both discs are fully in view and their edges are > 2 px apart (no merged masks)."""
    gap = (
        np.linalg.norm(truth.position[:, :, 0] - truth.position[:, :, 1], axis=-1)
        - truth.radius.sum(1)[:, None]
    )
    return truth.in_view.all(-1) & (gap > 2 * px)


def test_two_discs_of_one_colour_are_split_and_matched(rng):
    """Two red discs: 8-connected components matched to the true objects give each disc exactly the moments
    it has when the discs differ in colour (the whole-mask centroid would sit between them). The larger right
    disc is the first component in raster order, so matching by label order would swap them."""
    from phylaw.evaluate.metrics import build_context

    truth, red = _two_red(rng, [[0.6, 1.2, 2.0, 1.5], [0.9, 0.7, 3.0, 1.0]])
    res = 128
    both = build_context(parse(render(truth, res)), truth, 3, frames=render(truth, res))
    frames = render(red, res)
    split = build_context(parse(frames), red, 3, frames=frames)
    apart = _apart(truth, WORLD_SIZE / res)
    assert apart.sum() > 20
    for name in ("pos_hat", "radius_hat", "shape_hat", "detected"):
        np.testing.assert_array_equal(getattr(split, name)[apart], getattr(both, name)[apart], err_msg=name)
    err = np.linalg.norm(split.pos_hat - red.position, axis=-1)[apart]
    assert err.max() < 0.5 * WORLD_SIZE / res
    # one disc erased from a frame: that object is not detected there, the other still is
    t0 = int(np.nonzero(apart[0])[0][0])
    gone = _erase(frames, red, 0, t0, 1, res)
    ctx = build_context(parse(gone), red, 3, frames=gone)
    assert not ctx.detected[0, t0, 1]
    assert ctx.detected[0, t0, 0]
    np.testing.assert_array_equal(ctx.pos_hat[0, t0, 0], split.pos_hat[0, t0, 0])


def _erase(frames, truth, video, t, obj, res):
    """Paint object ``obj`` of ``video`` white in frame t (its disc plus a 1-pixel margin)."""
    out = frames.copy()
    px = WORLD_SIZE / res
    jj, ii = np.meshgrid(np.arange(res), np.arange(res))
    x, y = (jj + 0.5) * px, WORLD_SIZE - (ii + 0.5) * px
    cx, cy = truth.position[video, t, obj]
    out[video, t][np.hypot(x - cx, y - cy) <= truth.radius[video, obj] + px] = 255
    return out


def test_several_objects_of_a_colour_need_the_frames(rng):
    from phylaw.evaluate.metrics import build_context

    _, red = _two_red(rng, [[0.6, 1.2, 2.0, 1.5]])
    with pytest.raises(PhylawError, match="several objects of colour id 1"):
        build_context(parse(render(red, 32)), red, 3)


def test_every_matching_pixel_counts_by_default():
    """SPEC I.4: the mask is every matching pixel, so 1-3 pixel masks are detections (their centroid and
    √(A/π) radius); ``min_area`` is an opt-in noise threshold."""
    frames = np.full((1, 3, 32, 32, 3), 255, np.uint8)
    frames[0, 0, 5, 7] = (255, 0, 0)  # one pixel
    frames[0, 1, 5, 7:10] = (255, 0, 0)  # three pixels in a row
    p = parse(frames)
    assert p.visible[0, :, 0].tolist() == [True, True, False]
    px = WORLD_SIZE / 32
    np.testing.assert_allclose(p.center[0, 0, 0], [7.5 * px, WORLD_SIZE - 5.5 * px])
    np.testing.assert_allclose(p.center[0, 1, 0], [8.5 * px, WORLD_SIZE - 5.5 * px])
    np.testing.assert_allclose(p.radius[0, :2, 0], np.sqrt(np.array([1, 3]) / np.pi) * px)
    assert np.isnan(p.center[0, 2, 0]).all()
    assert not parse(frames, min_area=4).visible.any()
