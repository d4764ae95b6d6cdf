"""PHYRE rasteriser (SPEC_COMBINATORIAL A.6): hand-computed pixel cases, a brute-force full-frame reference,
dispatch from render(), and render -> evaluate.parse round trips in PHYRE scene units."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phylaw.errors import PhylawError
from phylaw.evaluate.parse import parse
from phylaw.render import color_id, render, render_phyre, render_phyre_indices, rgb_table
from phylaw.sim.states import SHAPE_BOX, SHAPE_DISC, SHAPE_JAR, SHAPE_POLYGON, SHAPE_STICKS, States

RED, GRAY, BLACK = color_id("phyre-red"), color_id("phyre-gray"), color_id("black")
V = 14  # vertex rows of a phyre video (docs/phyre.md)


def body(shape, pos, angle=0.0, radius=np.nan, half=(np.nan, np.nan), parts=(), color=GRAY, present=True):
    """One body; pos (2,) or (T, 2), angle scalar or (T,); parts: convex polygons in the body frame."""
    keys = ("shape", "pos", "angle", "radius", "half", "parts", "color", "present")
    return dict(zip(keys, (shape, pos, angle, radius, half, parts, color, present), strict=True))


def pack(parts) -> np.ndarray:
    """(V, 2): parts one after another, one NaN row between two parts, NaN-padded (docs/phyre.md)."""
    rows = []
    for j, p in enumerate(parts):
        if j:
            rows.append(np.full((1, 2), np.nan))
        rows.append(np.asarray(p, np.float64))
    packed = np.concatenate(rows) if rows else np.zeros((0, 2))
    return np.concatenate([packed, np.full((V - len(packed), 2), np.nan)])


def make_states(videos, n_frames=1) -> States:
    """videos: a list (one per video) of lists of bodies (one per slot, same K in every video)."""
    n, k = len(videos), len(videos[0])
    pos = np.full((n, n_frames, k, 2), np.nan)
    ang = np.full((n, n_frames, k), np.nan)
    shape = np.zeros((n, k), np.uint8)
    radius = np.full((n, k), np.nan)
    half = np.full((n, k, 2), np.nan)
    verts = np.full((n, k, V, 2), np.nan)
    color = np.zeros((n, k), np.uint8)
    present = np.zeros((n, k), bool)
    for v, bodies in enumerate(videos):
        for j, b in enumerate(bodies):
            pos[v, :, j] = np.broadcast_to(np.asarray(b["pos"], np.float64), (n_frames, 2))
            ang[v, :, j] = np.broadcast_to(np.asarray(b["angle"], np.float64), (n_frames,))
            shape[v, j], radius[v, j], half[v, j], color[v, j] = (
                b["shape"],
                b["radius"],
                b["half"],
                b["color"],
            )
            verts[v, j] = pack(b["parts"])
            present[v, j] = b["present"]
    return States(
        scenario="phyre", position=pos, velocity=np.zeros_like(pos), radius=radius, color=color, shape=shape,
        in_view=np.ones((n, n_frames, k), bool), angle=ang, present=present, half_size=half, vertices=verts,
        static=color == BLACK,
    )  # fmt: skip


def rect(x0, x1, y0, y1):
    return [[x1, y1], [x0, y1], [x0, y0], [x1, y0]]  # counter-clockwise from the top-right corner


def filled(states, res, colour=None, video=0, frame=0) -> np.ndarray:
    """(H, W) bool of one frame in PHYRE's raster orientation (row index y, y up): pixels of ``colour``
    (any non-background colour when None)."""
    ids = render_phyre_indices(states, res)[video, frame][::-1]
    return ids != 0 if colour is None else ids == colour


# ------------------------------------------------------------------------------- full-frame reference
def split_parts(vertices: np.ndarray) -> list[np.ndarray]:
    parts, cur = [], []
    for row in vertices:
        if np.isfinite(row).all():
            cur.append(row)
        elif cur:
            parts.append(np.array(cur))
            cur = []
    if cur:
        parts.append(np.array(cur))
    return parts


def reference_indices(states: States, res: int) -> np.ndarray:
    """The A.6 rules evaluated at every pixel of every frame, body by body (no bounding boxes): a pixel is
    filled when its centre is inside a part (half-plane tests), or inside the disc of radius r about the
    centre shifted by −0.5 scene units (one pixel-wide column only in a row whose chord is under a pixel)."""
    s = res / 512
    c = np.arange(res) + 0.5  # pixel centres in pixel units
    xx, yy = np.meshgrid(c, c)  # yy[y, x] = y + 0.5 (raster rows, y up)
    n, t, k, _ = states.position.shape
    out = np.zeros((n, t, res, res), np.uint8)
    for v in range(n):
        for f in range(t):
            for j in range(k):
                if not states.present[v, j] or states.color[v, j] == 0:
                    continue
                p, th = states.position[v, f, j], states.angle[v, f, j]
                if states.shape[v, j] == SHAPE_DISC:
                    cx, cy, r = s * (p[0] - 0.5), s * (p[1] - 0.5), s * states.radius[v, j]
                    m = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
                    narrow = r * r - (c - cy) ** 2 < 0.25  # (H,)
                    m[narrow] &= (np.arange(res) == math.floor(cx - 0.5))[None, :]
                else:
                    m = np.zeros((res, res), bool)
                    rot = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
                    parts = split_parts(states.vertices[v, j])
                    if not parts:  # a box given by its half sizes only
                        hx, hy = states.half_size[v, j]
                        parts = [np.array(rect(-hx, hx, -hy, hy))]
                    for part in parts:
                        q = s * (part @ rot.T + p)  # (m, 2) pixel units
                        e = np.roll(q, -1, axis=0) - q
                        cross = e[:, 0, None, None] * (yy - q[:, 1, None, None]) - e[:, 1, None, None] * (
                            xx - q[:, 0, None, None]
                        )  # (m, H, W)
                        m |= (cross >= 0).all(axis=0) | (cross <= 0).all(axis=0)
                out[v, f][m] = states.color[v, j]
    return out[:, :, ::-1]  # row 0 = top


def sc_jar(h: float) -> list[np.ndarray]:
    """PHYRE's jar of height h (SC A.2): base slab and two slanted walls."""
    w = h / 1.2
    b, t = 0.8 * w, (math.log(h) / math.log(0.3 * 512)) * 512 / 50
    a = math.atan2(h, (w - b) / 2)
    sa, ca = math.sin(a), math.cos(a)
    right = np.array(
        [[b / 2, -t / 2], [w / 2, h - t / 2], [w / 2 - t / sa, h - t / 2], [b / 2 - t * sa, -t / 2 + t * ca]]
    )
    return [np.array(rect(-b / 2, b / 2, -t / 2, t / 2)), right, right[::-1] * [-1.0, 1.0]]


def sc_sticks(length: float) -> list[np.ndarray]:
    """PHYRE's standing sticks (SC A.2): the (L/3, 10.24/3) rectangle rotated by ∓77.5°."""
    hx, hy = length / 3, 10.24 / 3
    out = []
    for a in (-math.radians(77.5), math.radians(77.5)):
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        out.append(np.array(rect(-hx, hx, -hy, hy)) @ rot.T)
    return out


def random_scene(rng, n_videos=2, n_frames=3, k=9) -> States:
    videos = []
    for _ in range(n_videos):
        bodies = []
        for j in range(k):
            kind = rng.integers(6)
            pos = rng.uniform(-20, 532, (n_frames, 2))  # some bodies poke out of the scene
            angle = rng.uniform(-4, 4, n_frames)
            col = int(rng.choice([GRAY, BLACK, RED, color_id("phyre-blue")]))
            if kind == 0:
                b = body(SHAPE_DISC, pos, radius=rng.uniform(1, 60), color=col)
            elif kind == 1:  # a bar given by half_size only
                b = body(SHAPE_BOX, pos, angle, half=(rng.uniform(3, 150), 5.12), color=col)
            elif kind == 2:  # a bar with its corners
                hx = rng.uniform(3, 150)
                b = body(
                    SHAPE_BOX, pos, angle, half=(hx, 5.12), parts=[rect(-hx, hx, -5.12, 5.12)], color=col
                )
            elif kind == 3:
                b = body(SHAPE_JAR, pos, angle, parts=sc_jar(rng.uniform(20, 160)), color=col)
            elif kind == 4:
                b = body(SHAPE_STICKS, pos, angle, parts=sc_sticks(rng.uniform(20, 160)), color=col)
            else:  # a clockwise pentagon
                a = -np.arange(5) * 2 * np.pi / 5
                pent = rng.uniform(5, 50) * np.stack([np.cos(a), np.sin(a)], axis=1)
                b = body(SHAPE_POLYGON, pos, angle, parts=[pent], color=col)
            b["present"] = j != 4  # one padded slot (its data are still there and must not be drawn)
            bodies.append(b)
        videos.append(bodies)
    return make_states(videos, n_frames)


# ------------------------------------------------------------------------------- hand-computed cases
def test_box_fills_pixel_centres_with_round_half_even_ties():
    # x in [10, 14] x y in [20, 23]: pixel centres 10.5 .. 13.5 and 20.5 .. 22.5
    st = make_states([[body(SHAPE_BOX, (12.0, 21.5), half=(2.0, 1.5))]])
    m = filled(st, 512)
    assert m.sum() == 12
    assert m[20:23, 10:14].all()
    # edges exactly on pixel centres: lrint is half-to-even, so [10.5, 14.5] x [20.5, 22.5] fills columns
    # rint(10.5) = 10 .. rint(14.5) - 1 = 13 and rows 20 .. 21; [11.5, 15.5] x [21.5, 23.5] fills columns
    # 12 .. 15 and rows 22 .. 23
    m = filled(make_states([[body(SHAPE_BOX, (12.5, 21.5), half=(2.0, 1.0))]]), 512)
    assert np.argwhere(m).min(0).tolist() == [20, 10]
    assert np.argwhere(m).max(0).tolist() == [21, 13]
    assert m.sum() == 8
    m = filled(make_states([[body(SHAPE_BOX, (13.5, 22.5), half=(2.0, 1.0))]]), 512)
    assert np.argwhere(m).min(0).tolist() == [22, 12]
    assert np.argwhere(m).max(0).tolist() == [23, 15]
    assert m.sum() == 8


def test_box_scales_with_the_resolution():
    # at 64 px a pixel is 8 scene units: x in [80, 160] x y in [40, 64] -> columns 10 .. 19, rows 5 .. 7
    m = filled(make_states([[body(SHAPE_BOX, (120.0, 52.0), half=(40.0, 12.0))]]), 64)
    assert m.sum() == 30
    assert m[5:8, 10:20].all()


def test_disc_pixel_count_is_the_shifted_pixel_centre_rule():
    # integer centre (100, 200), r = 10: the disc is centred at (99.5, 199.5), on a pixel centre, so the
    # filled pixels are the integer points of a²+b² <= 100 (Gauss: 317), columns and rows ±10 about 99 / 199
    m = filled(make_states([[body(SHAPE_DISC, (100.0, 200.0), radius=10.0, color=RED)]]), 512)
    assert m.sum() == 317
    rows, cols = np.nonzero(m)
    assert (cols.min(), cols.max(), rows.min(), rows.max()) == (89, 109, 189, 209)
    assert m[199, 89]
    assert m[189, 99]
    assert not m[199, 110]
    # PHYRE's radii are k + 0.5 (SC A.2): r = 10.5 adds the lattice points with 100 < a²+b² <= 110.25
    m = filled(make_states([[body(SHAPE_DISC, (100.0, 200.0), radius=10.5, color=RED)]]), 512)
    assert m.sum() == sum(1 for a in range(-11, 12) for b in range(-11, 12) if a * a + b * b <= 110.25)


def test_disc_narrow_polar_chord_only_at_the_scan_column():
    # shifted centre (100.3, 199.52), r = 5: the top row y = 204 has dy = 4.98, a chord of half width 0.447
    # around x = 100.3 that holds the centre of column 100 but not of column floor(100.3 - 0.5) = 99 ->
    # PHYRE draws nothing in that row (SC A.6's edge case); the pure pixel-centre test would draw (100, 204)
    st = make_states([[body(SHAPE_DISC, (100.8, 200.02), radius=5.0, color=RED)]])
    m = filled(st, 512)
    assert not m[204].any()
    assert m[203, 100]
    assert m[203, 99]
    yy, xx = np.mgrid[0:512, 0:512] + 0.5
    plain = (xx - 100.3) ** 2 + (yy - 199.52) ** 2 <= 25
    assert plain[204, 100]
    assert m.sum() == plain.sum() - 1


def test_jar_draws_its_three_parts_not_their_hull():
    # an axis-aligned jar: base [-20, 20] x [-5, 5], walls [-20, -15] and [15, 20] x [5, 40]
    parts = [rect(-20, 20, -5, 5), rect(15, 20, 5, 40), rect(-20, -15, 5, 40)]
    m = filled(make_states([[body(SHAPE_JAR, (256.0, 100.0), parts=parts)]]), 512)
    assert m.sum() == 400 + 2 * 175
    assert m[95:105, 236:276].all()  # base
    assert m[105:140, 236:241].all()
    assert m[105:140, 271:276].all()
    assert not m[105:140, 241:271].any()  # the inside of the jar stays empty


def test_rotation_is_counter_clockwise_about_the_origin():
    # a 40 x 10 bar turned by 90°: x in [251, 261], y in [236, 276]
    st = make_states([[body(SHAPE_BOX, (256.0, 256.0), math.pi / 2, half=(20.0, 5.0))]])
    m = filled(st, 512)
    rows, cols = np.nonzero(m)
    assert m.sum() == 400
    assert (cols.min(), cols.max(), rows.min(), rows.max()) == (251, 260, 236, 275)
    # turned by +30°: the +x end rises (around (270.7, 264.5)), the point below it stays empty
    m = filled(make_states([[body(SHAPE_BOX, (256.0, 256.0), math.pi / 6, half=(20.0, 5.0))]]), 512)
    assert m[264, 270]
    assert not m[247, 270]
    # the same bar given by its corners draws the same pixels as the half_size rectangle
    corners = make_states([[body(SHAPE_BOX, (256.0, 256.0), math.pi / 6, half=(20.0, 5.0),
                                 parts=[rect(-20, 20, -5, 5)])]])  # fmt: skip
    np.testing.assert_array_equal(filled(corners, 512), m)


def test_rows_flipped_so_the_scene_bottom_is_the_last_row():
    st = make_states([[body(SHAPE_BOX, (5.0, 5.0), half=(5.0, 5.0), color=BLACK)]])
    ids = render_phyre_indices(st, 512)[0, 0]  # image orientation: row 0 is the top
    assert (ids[502:, :10] == BLACK).all()
    assert ids.sum() == 100 * BLACK
    frames = render_phyre(st, 512)[0, 0]
    assert tuple(frames[511, 0]) == (0, 0, 0)
    assert tuple(frames[0, 0]) == (255, 255, 255)


def test_later_bodies_are_drawn_on_top():
    # the box covers x, y in [30, 60]; the disc's pixels are (59 + a, 59 + b) with a² + b² <= 100, so the box
    # covers those with a, b <= 0: 69 in the open quadrant + 2 x 10 on the half axes + the centre = 90
    a = body(SHAPE_BOX, (45.0, 45.0), half=(15.0, 15.0), color=GRAY)
    b = body(SHAPE_DISC, (60.0, 60.0), radius=10.0, color=RED)
    assert filled(make_states([[a, b]]), 512, RED).sum() == 317
    assert filled(make_states([[a, b]]), 512, GRAY).sum() == 900 - 90
    assert filled(make_states([[b, a]]), 512, RED).sum() == 317 - 90
    assert filled(make_states([[b, a]]), 512, GRAY).sum() == 900


def test_padded_slots_and_white_bodies_draw_nothing():
    pad = body(SHAPE_BOX, (50.0, 50.0), half=(20.0, 20.0), color=BLACK, present=False)
    white = body(SHAPE_BOX, (60.0, 60.0), half=(5.0, 5.0), color=0)  # PHYRE skips colour 0
    ball = body(SHAPE_DISC, (60.0, 60.0), radius=10.0, color=RED)
    ids = render_phyre_indices(make_states([[ball, pad, white]]), 512)
    assert (ids == RED).sum() == 317
    assert set(np.unique(ids)) == {0, RED}
    gone = make_states([[ball, pad]])
    gone.position[0, 0, 1] = np.nan  # a padded slot's values are NaN
    assert (render_phyre_indices(gone, 512) == RED).sum() == 317


@pytest.mark.parametrize("res", [512, 64, 200])
def test_matches_brute_force_full_frame_reference(rng, res):
    st = random_scene(rng)
    np.testing.assert_array_equal(render_phyre_indices(st, res), reference_indices(st, res))


def test_rgb_frames_and_render_dispatch(rng):
    st = random_scene(rng, n_videos=2, n_frames=2)
    ids = render_phyre_indices(st, 64)
    rgb = render_phyre(st, 64)
    np.testing.assert_array_equal(rgb, rgb_table()[ids])
    np.testing.assert_array_equal(render(st, 64), rgb)  # render() dispatches on the scenario's renderer
    np.testing.assert_array_equal(render(st, 64, indices=[1], frames=[1]), rgb[1:2, 1:2])
    out = np.zeros_like(rgb)
    assert render(st, 64, out=out) is out
    assert (out == rgb).all()


def test_rgb_in_video_chunks(rng, monkeypatch):
    import phylaw.render.phyre_raster as pr

    st = random_scene(rng, n_videos=3, n_frames=2)
    whole = rgb_table()[render_phyre_indices(st, 32)]
    monkeypatch.setattr(pr, "_RGB_CHUNK_PIXELS", 2 * 32 * 32)  # one video per chunk
    np.testing.assert_array_equal(render_phyre(st, 32), whole)
    np.testing.assert_array_equal(render_phyre(st, 32, indices=[2, 0], frames=[1]), whole[[2, 0]][:, [1]])


@pytest.mark.parametrize("res", [7, 0, 8.5])
def test_bad_resolution(res):
    st = make_states([[body(SHAPE_DISC, (60.0, 60.0), radius=10.0, color=RED)]])
    with pytest.raises(PhylawError, match="resolution"):
        render_phyre_indices(st, res)


def test_bad_input():
    bad = make_states([[body(SHAPE_DISC, (60.0, 60.0), radius=10.0, color=RED)]])
    bad.color[0, 0] = 200
    with pytest.raises(PhylawError, match="palette id"):
        render_phyre(bad, 32)
    ring = make_states([[body(2, (60.0, 60.0), radius=10.0, color=RED)]])  # SHAPE_RING: not a PHYRE shape
    with pytest.raises(PhylawError, match="shape id 2"):
        render_phyre(ring, 32)
    with pytest.raises(PhylawError, match="out must be"):
        render_phyre(
            make_states([[body(SHAPE_DISC, (60.0, 60.0), radius=10.0)]]),
            32,
            out=np.zeros((1, 1, 8, 8, 3), np.uint8),
        )


# ------------------------------------------------------------------------------- render -> parse
@pytest.mark.parametrize("res", [64, 256])
def test_render_parse_round_trip_in_scene_units(res):
    t = 6
    ball = np.stack([np.linspace(90.0, 430.0, t), np.linspace(400.0, 120.0, t)], axis=1)  # (T, 2)
    scene = [
        body(SHAPE_BOX, (256.0, 5.12), half=(250.0, 5.12), color=BLACK),  # a floor bar
        body(SHAPE_JAR, (150.0, 40.0), 0.3, parts=sc_jar(90.0)),
        body(SHAPE_STICKS, (380.0, 200.0), -0.2, parts=sc_sticks(120.0)),
        body(SHAPE_DISC, (300.0, 300.0), radius=25.5),
        body(SHAPE_BOX, (250.0, 260.0), 0.7, half=(100.0, 5.12)),  # crosses the ball's path: drawn under it
        body(SHAPE_DISC, ball, radius=20.5, color=RED),  # the user ball, last slot
    ]
    st = make_states([scene], t)
    parsed = parse(render(st, res), scenario="phyre")
    red = parsed.names.index("red")
    px = 512 / res  # scene units per pixel
    err = np.linalg.norm(parsed.center[0, :, red] - ball, axis=-1) / px
    assert parsed.visible[0, :, red].all()
    assert err.max() < 1.0, err
    # more precisely: the disc PHYRE draws is centred 0.5 scene units left of and below the body origin,
    # and a pixel-centre disc's centroid is that centre up to quantisation (a half-pixel parser shift fails)
    shifted = np.abs(parsed.center[0, :, red] - (ball - 0.5)) / px
    assert shifted.max() < 0.3, shifted
    assert np.abs(parsed.radius[0, :, red] - 20.5).max() < px
    assert not parsed.visible[0, :, parsed.names.index("blue")].any()  # gray and black match no rule
    # the kinematic default (a 10-unit world) is unchanged and named by its scenario too
    frames = render(st, res)
    np.testing.assert_array_equal(parse(frames).center, parse(frames, scenario="uniform_motion").center)
    np.testing.assert_allclose(parse(frames).center * 51.2, parsed.center)
