"""The attribute read-out: exact on ground truth, names the one attribute a synthetic "generation" changed,
the counts and win rates of a pair, the order a known matrix implies (and a cycle), bad input."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from phylaw.errors import PhylawError
from phylaw.evaluate.attributes import (
    Win,
    decisions,
    outcomes,
    pair_rows,
    priority_matrix,
    priority_order,
    read_attributes,
    wins_of,
)
from phylaw.evaluate.parse import parse
from phylaw.render import render
from phylaw.sim import get_split
from phylaw.sim.attribute_studies import get_setting
from phylaw.sim.states import FRAME_DT

RES, T, C = 64, 16, 3


def _eval(setting: str):
    split = get_split("attribute_motion", f"attr-{setting}-eval-small", n_frames=T)
    batch = split.generate(0, len(split), seed=3)
    return batch


def _table(batch, gen_frames, gt_frames) -> pd.DataFrame:
    g = read_attributes(parse(gen_frames), C, FRAME_DT)
    f = read_attributes(parse(gt_frames), C, FRAME_DT)
    p = batch.params
    df = pd.DataFrame({"index": np.arange(len(p)), "split": batch.labels.split, "level": batch.labels.level,
                       "r": p[:, 0], "v": p[:, 1], "color": p[:, 2], "shape": p[:, 3]})  # fmt: skip
    return pd.concat([df, g.table("gen"), f.table("floor")], axis=1)


@pytest.mark.parametrize("setting", ["color-shape", "ring-ball", "size-shape-cont", "velocity-shape-cont",
                                     "color-size-bin", "size-velocity-cont"])  # fmt: skip
def test_ground_truth_reads_back_exactly(setting):
    batch = _eval(setting)
    frames = render(batch.states, RES)
    ro = read_attributes(parse(frames), C, FRAME_DT)
    p = batch.params
    np.testing.assert_array_equal(ro.color, p[:, 2])
    np.testing.assert_array_equal(ro.shape, p[:, 3])
    assert np.nanmax(np.abs(ro.size - p[:, 0])) < 0.06  # world units; 1 px = 0.156
    ok = np.isfinite(ro.velocity)
    assert ok.mean() > 0.95
    assert np.max(np.abs(ro.velocity[ok] - p[ok, 1])) < 0.2
    dec = decisions(_table(batch, frames, frames), get_setting(setting), "floor")
    assert all(np.nanmean(dec[c]) == 1.0 for c in dec if c.endswith("_kept"))


def _splice(batch, changed_states) -> np.ndarray:
    """Frames that show the condition for t < C and ``changed_states`` after it."""
    gt = render(batch.states, RES)
    gen = render(changed_states, RES)
    gen[:, :C] = gt[:, :C]
    return gen


def _changed(setting: str, attr: str):
    """The test videos of a pair with one attribute changed after the conditioning frames."""
    batch = _eval(setting)
    st = batch.states
    if attr == "color":
        st = st.with_appearance(color=3 - st.color)  # red 1 <-> blue 2
    elif attr == "shape":
        st = st.with_appearance(shape=np.where(st.shape == 0, 1, 0).astype(np.uint8))  # disc <-> square
    elif attr == "size":  # large -> small (stays in view); small -> 1.4 where it stays in view
        st = replace(st, radius=np.where(st.radius > 1.05, 0.7, st.radius))
    else:  # velocity: fast -> slow from the last conditioning frame on
        t = np.arange(T) * FRAME_DT
        v = np.where(batch.params[:, 1] > 2.5, 1.0, batch.params[:, 1])
        x = st.position[:, C - 1, 0, 0][:, None] + v[:, None] * (t - t[C - 1])[None, :]
        pos = st.position.copy()
        pos[:, C:, 0, 0] = x[:, C:]
        st = replace(st, position=pos)
    return batch, st


@pytest.mark.parametrize(("setting", "attr"), [("color-shape", "color"), ("color-shape", "shape"),
                                               ("color-size-bin", "size"), ("velocity-shape-bin", "velocity"),
                                               ("size-velocity-cont", "size"), ("ring-ball", "color")])  # fmt: skip
def test_a_generation_that_changes_one_attribute_is_named(setting, attr):
    batch, st = _changed(setting, attr)
    s = get_setting(setting)
    # the videos whose attribute was actually changed (size: the large ones; velocity: the fast ones)
    col = {"color": 2, "shape": 3, "size": 0, "velocity": 1}[attr]
    moved = {"size": batch.params[:, col] > 1.05, "velocity": batch.params[:, col] > 2.5}.get(
        attr, np.ones(len(batch.params), bool)
    )
    gt = render(batch.states, RES)
    df = _table(batch, _splice(batch, st), gt)
    dec = decisions(df, s, "gen")
    other = next(a for a in s.attributes if a != attr)
    assert (dec[f"{attr}_kept"][moved] == 0).all()  # the changed attribute is named ...
    assert (dec[f"{other}_kept"][moved] == 1).all()  # ... and only that one
    assert (dec[f"{attr}_kept"][~moved] == 1).all()
    o = outcomes(dec, s)
    first_changed = attr == s.attributes[0]
    assert set(o[moved]) == {"changed_first" if first_changed else "changed_second"}
    rows = pd.DataFrame(pair_rows(df, s))
    pooled = rows[(rows["level"] == "pooled")].set_index("metric")
    win = pooled.loc[f"win_{s.attributes[0]}_over_{s.attributes[1]}"]
    test_moved = int((moved & (batch.labels.split == "ood")).sum())
    assert win["n"] == test_moved
    assert win["value"] == (0.0 if first_changed else 1.0)
    assert pooled.loc[f"{attr}_changed", "floor"] == 0.0  # ground truth: no decision wrong
    (w,) = wins_of(rows)
    assert (w.a, w.b, w.n) == (*s.attributes, test_moved)


PAPER = [Win("color", "size", 50, 50), Win("color", "velocity", 40, 50), Win("size", "velocity", 30, 50),
         Win("color", "shape", 50, 50), Win("size", "shape", 45, 50), Win("velocity", "shape", 49, 50)]  # fmt: skip


def test_the_order_of_a_known_matrix():
    o = priority_order(PAPER)
    assert o.order == ("color", "size", "velocity", "shape")
    assert o.total
    assert not o.cycle
    assert o.text() == "color > size > velocity > shape"
    # the same pairs given the other way round (b's wins over a) give the same order
    flipped = [Win(w.b, w.a, w.n - w.k, w.n) for w in PAPER]
    assert priority_order(flipped).order == o.order
    # strict: size over velocity at 30 / 50 has a Wilson interval spanning 1/2 -> undecided
    s = priority_order(PAPER, strict=True)
    assert ("size", "velocity") in s.undecided
    assert not s.total
    m = priority_matrix(PAPER, ("color", "size", "velocity", "shape"))
    assert m.loc["color", "shape"].endswith("(50/50)")
    assert m.loc["shape", "color"].startswith("0.00")
    assert m.loc["velocity", "size"].endswith("(20/50)")


def test_a_cycle_and_undecided_pairs_are_reported():
    cyc = priority_order(
        [Win("color", "size", 40, 50), Win("size", "shape", 40, 50), Win("shape", "color", 40, 50)]
    )
    assert cyc.order == ()
    assert set(cyc.cycle[:-1]) == {"color", "size", "shape"}
    assert cyc.cycle[0] == cyc.cycle[-1]
    assert cyc.text().startswith("cycle: ")
    tie = priority_order([Win("color", "size", 25, 50), Win("color", "shape", 0, 0)],
                         ("color", "size", "shape"))  # fmt: skip
    assert set(tie.undecided) == {("color", "size"), ("color", "shape"), ("size", "shape")}
    assert not tie.total
    assert tie.text().startswith("color ~ size ~ shape (undecided: ")
    part = priority_order(
        [Win("color", "shape", 40, 50), Win("size", "shape", 40, 50)], ("color", "size", "shape")
    )
    assert part.tiers == (("color", "size"), ("shape",))
    assert part.text() == "color ~ size > shape (undecided: color–size)"


def test_bad_input():
    with pytest.raises(PhylawError, match="not in"):
        priority_order([Win("color", "size", 5, 3)])
    with pytest.raises(PhylawError, match="over itself"):
        priority_order([Win("color", "color", 1, 3)])
    frames = np.full((1, C, 16, 16, 3), 255, np.uint8)
    with pytest.raises(PhylawError, match="none after the 3 conditioning frames"):
        read_attributes(parse(frames), C, FRAME_DT)


def test_an_empty_frame_is_lost_not_guessed():
    frames = np.full((1, 8, 32, 32, 3), 255, np.uint8)
    ro = read_attributes(parse(frames), C, FRAME_DT)
    assert (ro.color, ro.shape, ro.frames) == (np.array([-1]), np.array([-1]), np.array([0]))
    assert np.isnan(ro.size).all()
    assert np.isnan(ro.velocity).all()


def test_an_object_cut_by_the_frame_edge_is_not_read():
    """A disc half outside the image in every generated frame: its area and fill lie, so it is lost."""
    batch = _eval("color-size-bin")
    st = batch.states
    pos = st.position.copy()
    pos[:, :, 0, 1] = 10.0 - 0.3  # centre 0.3 below the top edge: most of the object is outside
    frames = render(replace(st, position=pos), RES)
    ro = read_attributes(parse(frames), C, FRAME_DT)
    assert (ro.frames == 0).all()
    assert np.isnan(ro.size).all()
    whole = read_attributes(parse(render(st, RES)), C, FRAME_DT)
    assert (whole.frames > 0).all()


def test_changed_rates_count_the_videos_each_side_read():
    """A model that loses every object: its changed rates have n = 0, the ground truth's floor keeps its own
    count of read videos (floor_n), and every generated video is "lost"."""
    from phylaw.evaluate.attributes import pair_rows

    batch = _eval("color-shape")
    gt = render(batch.states, RES)
    rows = pd.DataFrame(pair_rows(_table(batch, np.full_like(gt, 255), gt), get_setting("color-shape")))
    changed = rows[rows["metric"] == "color_changed"].set_index("level")
    per_level = pd.Series(batch.labels.level).value_counts()
    assert (changed["n"] == 0).all()
    assert (
        changed.loc["blue-disc", "floor_n"] == changed.loc["blue-disc", "n_videos"] == per_level["blue-disc"]
    )
    assert changed.loc["pooled", "floor"] == 0.0
    lost = rows[rows["metric"] == "outcome_lost"]
    assert (lost["value"] == 1.0).all()
    assert (lost["floor"] == 0.0).all()
