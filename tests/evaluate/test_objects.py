"""evaluate.objects (issue 13): palette classes, components, tracking and truth matching on engine ground truth
(phyre splits, render_phyre) and on doctored scenes (a merge, a deletion, a clone)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from phylaw.errors import PhylawError
from phylaw.evaluate import objects as ob
from phylaw.render.palette import rgb_table
from phylaw.render.phyre_raster import render_phyre, render_phyre_indices
from phylaw.sim.phyre.engine import simulate_rows
from phylaw.sim.phyre.splits import get_split
from phylaw.sim.states import SHAPE_DISC, SHAPE_JAR, States

RES = 128
GRAY, RED_P = 12, 8


@pytest.fixture(scope="module")
def gt():
    """20 ground-truth videos of eval-in-template-small (many with touching gray bodies), 32 frames."""
    split = get_split("eval-in-template-small")
    states, _ = simulate_rows(split.params(0, 20), 0, 32)
    frames = render_phyre(states, RES)
    return states, frames, ob.parse_objects(frames)


def discs(tracks_xy, n_frames, colors, radius=20.0) -> States:
    """One video of discs: tracks_xy (K, T, 2) scene units (NaN = not drawn)."""
    pos = np.asarray(tracks_xy, np.float64).transpose(1, 0, 2)[None]  # (1, T, K, 2)
    k = pos.shape[2]
    return States(
        "phyre", pos, np.zeros_like(pos), np.full((1, k), radius), np.array([colors], np.uint8),
        np.full((1, k), SHAPE_DISC, np.uint8), np.ones((1, n_frames, k), bool), dt=1 / 3,
        angle=np.zeros((1, n_frames, k)),
    )  # fmt: skip


def test_classify_palette_and_perturbations():
    lut = rgb_table()
    ids = np.array([0, 8, 9, 10, 11, 12, 6, 13])
    assert ob.classify(lut[ids][None, None, None]).ravel().tolist() == [0, 1, 2, 3, 4, 5, 6, 0]
    idx = render_phyre_indices(discs([[[150, 300]], [[300, 300]]], 1, [RED_P, GRAY]), RES)[0, 0]
    truth = ob.classify(lut[idx][None, None])[0, 0]
    rng = np.random.default_rng(0)
    noisy = np.clip(lut[idx].astype(int) + rng.integers(-12, 13, (*idx.shape, 3)), 0, 255).astype(np.uint8)
    assert (ob.classify(noisy[None, None])[0, 0] == truth).mean() > 0.999
    buf = io.BytesIO()
    Image.fromarray(lut[idx]).save(buf, "JPEG", quality=75)  # 4:2:0 chroma, like MP4
    jpeg = np.asarray(Image.open(buf).convert("RGB"))
    got = ob.classify(jpeg[None, None])[0, 0]
    inner = ~((truth[1:-1, 1:-1] != truth[:-2, 1:-1]) | (truth[1:-1, 1:-1] != truth[2:, 1:-1]))
    assert (got[1:-1, 1:-1] == truth[1:-1, 1:-1])[inner].mean() > 0.99  # away from edges
    assert not np.isin(got, [2, 3, 4, 6]).any()  # edges never turn into a third colour
    tracks = ob.parse_objects(jpeg[None, None].copy())
    assert sorted(tracks.cls[0].tolist()) == [1, 5]


def test_bad_input():
    with pytest.raises(PhylawError, match="uint8"):
        ob.classify(np.zeros((1, 2, 8, 8, 3), np.float32))
    with pytest.raises(PhylawError, match="shape"):
        ob.parse_objects(np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(PhylawError, match="min_area"):
        ob.parse_objects(np.zeros((1, 2, 8, 8, 3), np.uint8), min_area=0)


def test_descriptor_invariants():
    # a disc: (1/2π, 0, 0, 0); a 4:1 rectangle: (17/48, 15/48, 0, 0)
    disc = ob.descriptor({"00": np.pi, "20": np.pi / 4, "02": np.pi / 4, "11": 0.0, **dict.fromkeys(
        ("30", "21", "12", "03"), 0.0)})  # fmt: skip
    np.testing.assert_allclose(disc, [1 / (2 * np.pi), 0, 0, 0], atol=1e-12)
    w, h = 4.0, 1.0
    rect = ob.descriptor({"00": w * h, "20": w**3 * h / 12, "02": w * h**3 / 12, "11": 0.0, **dict.fromkeys(
        ("30", "21", "12", "03"), 0.0)})  # fmt: skip
    np.testing.assert_allclose(rect, [17 / 48, 15 / 48, 0, 0], atol=1e-12)


def _apart(states, res):
    """(n, K) bool: the body is drawn whole at frame 0 (no other body over it), not touching a body of its
    class, inside the frame."""
    idx = render_phyre_indices(states, res, frames=[0])[:, 0]  # (n, H, W)
    n, k = states.present.shape
    out = np.zeros((n, k), bool)
    for v in range(n):
        for s in np.flatnonzero(states.present[v]):
            alone = states.subset([v])
            pres = np.zeros_like(alone.present)
            pres[0, s] = True
            mine = render_phyre_indices(
                States.__new__(States) if False else _only(alone, pres), res, frames=[0]
            )
            mine = mine[0, 0] != 0
            same = idx[v] == states.color[v, s]
            grown = mine.copy()
            grown[1:] |= mine[:-1]
            grown[:-1] |= mine[1:]
            grown[:, 1:] |= grown[:, :-1]
            grown[:, :-1] |= grown[:, 1:]
            edge = mine[0].any() or mine[-1].any() or mine[:, 0].any() or mine[:, -1].any()
            out[v, s] = same[mine].all() and not (same & grown & ~mine).any() and mine.any() and not edge
    return out


def _only(states, present):
    from dataclasses import replace

    return replace(states, present=present)


def test_frame0_bodies_found_with_their_class_and_centroid(gt):
    states, _frames, tracks = gt
    apart = _apart(states, RES)
    matched = ob.match_truth(tracks, states)
    tc = ob.true_centroids(states, RES)[:, 0]
    px = 512 / RES
    n_checked = n_merged = 0
    for v in range(len(states)):
        for s in np.flatnonzero(apart[v]):
            m = np.flatnonzero(matched.truth_slot[v] == s)
            assert len(m) == 1, (v, s)
            assert matched.cls[v, m[0]] == ob.CLASS_OF_PALETTE[int(states.color[v, s])]
            if matched.merged[v, 0, m[0]]:  # match_truth gave its track a body not drawn apart (known limit)
                n_merged += 1
                continue
            err = np.hypot(*(matched.centroid[v, 0, m[0]] - tc[v, s]))
            # pixel sampling of small bodies: up to 0.34 px; jars: true_centroids weights their overlapping
            # parts twice (up to 1.04 px here)
            bound = 1.5 if states.shape[v, s] == SHAPE_JAR else 0.4
            assert err < bound * px, (v, s, err / px)
            n_checked += 1
    assert n_checked > 60
    # measured 4 of 70 at 128² (5 before splits were carried back only while the blob has room): all from
    # match_truth's box rule (a body hidden under an identical one, or not drawn, whose centroid lies in the
    # box of a body standing apart)
    assert n_merged <= 5
    # nearly every drawn body has a track in frame 0 (blobs of touching bodies through match_truth's members;
    # the rest: blobs whose box does not hold a further body's centroid, e.g. a bar under a ball)
    drawn = states.present & (states.color != 0)
    missing = sum(len(set(np.flatnonzero(drawn[v])) - set(matched.truth_slot[v])) for v in range(len(states)))
    assert missing <= 0.05 * drawn.sum(), (missing, drawn.sum())


def test_identities_stable_on_ground_truth(gt):
    _states, _, tracks = gt
    real = tracks.cls > 0
    assert not ((tracks.born > 0) & (tracks.split_from < 0)).any()  # no appearance in 20 GT videos
    assert tracks.merged.any()  # touching gray bodies are common
    lost = (~tracks.present & real[:, None]).sum() / (real.sum() * tracks.n_frames)
    assert lost < 0.01  # measured 0.44 % at 128² (1.1 % before merged members were measured)
    red = tracks.cls == ob.RED
    assert (red.sum(axis=1) == 1).all()
    assert tracks.present[:, :, :][red[:, None, :].repeat(32, 1)].all()
    black = tracks.cls == ob.BLACK  # static: one own component per black body in every frame
    assert (tracks.present[black[:, None, :].repeat(32, 1)]).all()


def _scene(n_frames=16):
    """A gray disc at rest, a second one rolling in to touch it at frame 6 and stay, a red ball apart."""
    a = np.tile([200.0, 100.0], (n_frames, 1))
    b = np.stack([np.maximum(400 - 40 * np.arange(n_frames), 240.0), np.full(n_frames, 100.0)], axis=1)
    r = np.tile([100.0, 400.0], (n_frames, 1))
    return a, b, r


def test_merge_keeps_both_tracks_present_and_flagged():
    a, b, r = _scene()
    st = discs([a, b, r], 16, [GRAY, GRAY, RED_P])
    tr = ob.match_truth(ob.parse_objects(render_phyre(st, RES)), st)
    g = np.flatnonzero(tr.cls[0] == ob.GRAY)
    assert len(g) == 2
    assert tr.present[0][:, g].all()
    touching = np.hypot(*(a - b).T) <= 40.0
    np.testing.assert_array_equal(tr.merged[0][:, g], np.repeat(touching[:, None], 2, axis=1))
    for m in g:  # merged tracks' centroids are measured from their share of the blob's pixels (0.03 units)
        true = ob.true_centroids(st)[0, :, tr.truth_slot[0, m]]
        assert np.hypot(*(tr.centroid[0, :, m] - true).T).max() < 1.0
    np.testing.assert_allclose(tr.area[0, -1, g], np.pi * 400, rtol=0.1)  # each its own disc's area
    assert (tr.group[0][touching][:, g] == g.min()).all()


def test_deleted_object_not_present_and_clone_is_a_new_track():
    a, b, r = _scene()
    b = b.copy()
    b[:, 0] = 400.0  # b stays apart
    a = a.copy()
    a[10:] = np.nan  # a is deleted from frame 10 on
    clone = np.full_like(a, np.nan)
    clone[10:] = [400.0, 400.0]  # and a gray clone appears far from it
    st = discs([a, b, r, clone], 16, [GRAY, GRAY, RED_P, GRAY])
    tr = ob.match_truth(ob.parse_objects(render_phyre(st, RES)), st)
    ta = int(np.flatnonzero(tr.truth_slot[0] == 0)[0])
    assert tr.present[0, :10, ta].all()
    assert not tr.present[0, 10:, ta].any()
    new = np.flatnonzero((tr.born[0] == 10) & (tr.cls[0] == ob.GRAY))
    assert len(new) == 1
    assert tr.split_from[0, new[0]] == -1
    assert tr.present[0, 10:, new[0]].all()


def test_touching_blob_that_comes_apart_is_a_split_not_an_appearance():
    n = 12
    a = np.tile([200.0, 100.0], (n, 1))
    b = np.stack([np.where(np.arange(n) < 5, 240.0, 240 + 30 * (np.arange(n) - 4)), np.full(n, 100.0)], 1)
    st = discs([a, b], n, [GRAY, GRAY])
    tr = ob.parse_objects(render_phyre(st, RES))
    g = np.flatnonzero(tr.cls[0] == ob.GRAY)
    assert len(g) == 2
    assert tr.present[0][:, g].all()
    child = g[tr.split_from[0, g] >= 0]
    assert len(child) == 1
    assert tr.born[0, child[0]] == 5
    assert tr.merged[0, :5][:, g].all()
    assert not tr.merged[0, 5:][:, g].any()
    m = ob.match_truth(tr, st)
    tc = ob.true_centroids(st)[0, 0]
    for s in g:  # carried back from the split, the blob divided by the masks seen there (measured 3.4)
        assert np.hypot(*(m.centroid[0, 0, s] - tc[m.truth_slot[0, s]])) < 5.0


@pytest.mark.parametrize("res", [128, 256])
def test_three_way_merge_keeps_members_with_measured_centroids(res):
    """A gray disc at rest, a second rolling in from the right and stopping against it (frame 4), a third
    falling onto it (frame 9), all staying together: the blob's pixels are divided among the three tracks
    (their outlines seen before contact), so each stays present with a centroid within a few units of its
    body's and an area near its own (a disc of radius 20: 1257 units²)."""
    n = 16
    t = np.arange(n)
    a = np.tile([200.0, 100.0], (n, 1))
    b = np.stack([np.maximum(400 - 40 * t, 240.0), np.full(n, 100.0)], axis=1)
    c = np.stack([np.full(n, 200.0), np.maximum(400 - 30 * t, 140.0)], axis=1)
    r = np.tile([100.0, 400.0], (n, 1))
    st = discs([a, b, c, r], n, [GRAY, GRAY, GRAY, RED_P])
    tr = ob.match_truth(ob.parse_objects(render_phyre(st, res)), st)
    g = np.flatnonzero(tr.cls[0] == ob.GRAY)
    assert len(g) == 3
    assert sorted(tr.truth_slot[0, g].tolist()) == [0, 1, 2]
    assert tr.present[0][:, g].all()
    assert tr.merged[0, -1, g].all()
    assert (tr.group[0, -1, g] == g.min()).all()
    tc = ob.true_centroids(st)[0]
    for m in g:
        err = np.hypot(*(tr.centroid[0, :, m] - tc[:, tr.truth_slot[0, m]]).T)
        assert err.max() < 3.0, (m, err.max())  # measured at most 1.75 (0.4 px at 128²)
        np.testing.assert_allclose(tr.area[0, -1, m], np.pi * 400, rtol=0.15)  # measured within 10 %
    np.testing.assert_allclose(tr.area[0, -1, g].sum(), tr.pixels[0, -1, g[0]] * (512 / res) ** 2)


def test_label_of_an_unknown_position_is_no_component():
    """A track with no position yet (NaN prediction, e.g. carried back into a blob) finds no component; it
    used to raise ValueError and stop the whole parse (judge-suite at 256², eval-out-of-template-small row 17)."""
    labels = np.zeros((1, 4, 4), np.int32)
    tracker = ob._Tracker(None, labels, 8.0)
    assert tracker._label(0, np.array([np.nan, 1.0])) == -1
    assert tracker._label(0, np.array([1.0, 2.0])) == 0
    assert tracker._label(0, np.array([9.0, 2.0])) == -1


def test_bounce_far_from_prediction_keeps_identities():
    """A small gray ball falls at 90 units/frame and bounces off the floor (190 units from its constant-velocity
    prediction, beyond the gate) beside a large gray disc at rest. Before the assignment measured the distance
    to the last position too and could leave a track unassigned (UNMATCHED_COST), it swapped the two tracks
    (every finite-cost matching beat one with a gated-out pair)."""
    ys = [400, 320, 220, 110, 20, 120, 210, 280]
    ball = np.array([[270.0, y] for y in ys])
    big = np.tile([340.0, 30.0], (len(ys), 1))
    pos = np.stack([ball, big], axis=1)[None]  # (1, T, 2, 2)
    st = States(
        "phyre", pos, np.zeros_like(pos), np.array([[12.0, 30.0]]), np.array([[GRAY, GRAY]], np.uint8),
        np.full((1, 2), SHAPE_DISC, np.uint8), np.ones((1, len(ys), 2), bool), dt=1 / 3,
        angle=np.zeros((1, len(ys), 2)),
    )  # fmt: skip
    tr = ob.parse_objects(render_phyre(st, RES))
    slots = np.flatnonzero(tr.cls[0] > 0)
    assert len(slots) == 2
    small = slots[np.argmin(tr.area[0, 0, slots])]
    large = slots[np.argmax(tr.area[0, 0, slots])]
    np.testing.assert_allclose(tr.centroid[0, :, small], ball, atol=3.0)
    np.testing.assert_allclose(tr.centroid[0, :, large], big, atol=3.0)
