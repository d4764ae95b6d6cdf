"""The mechanism studies' analyses on synthetic generations with known behaviour: fitted speeds, gap landing
(a model that snaps to the seen bands vs one that follows the law), memorisation rates, hull error gaps, CIs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from phylaw.errors import PhylawError
from phylaw.evaluate import studies as st
from phylaw.sim.studies import GAP_SETTINGS

C, DT, T = 3, 0.1, 16


def _track(v: np.ndarray, x0: float = 1.5, t: int = T) -> np.ndarray:
    """(n, T, 1, 2) centres moving at v along x."""
    x = x0 + v[:, None] * (np.arange(t) * DT)[None]
    return np.stack([x, np.full_like(x, 5.0)], -1)[:, :, None, :]


def _observed(
    v_cond: np.ndarray, v_gen: np.ndarray, level: np.ndarray, split: np.ndarray, rng
) -> st.Observed:
    """Videos whose condition moves at v_cond and whose generated frames move at v_gen from frame c − 1."""
    n = len(v_cond)
    truth = _track(v_cond)
    gen = truth.copy()
    gen[:, C:, 0, 0] = truth[:, C - 1 : C, 0, 0] + v_gen[:, None] * (np.arange(1, T - C + 1) * DT)[None]
    jitter = rng.normal(0, 0.01, gen.shape)  # sub-pixel parser noise
    ones = np.ones((n, T, 1), bool)
    radius = np.ones((n, T, 1))
    return st.Observed(
        scenario="uniform_motion", index=np.arange(n), split=split, level=level,
        params=np.stack([np.ones(n), v_cond], 1), param_names=("r", "v"), truth=truth, gen=gen + jitter,
        gen_detected=ones, gen_radius=radius, floor=truth + jitter, floor_detected=ones, floor_radius=radius,
        features=np.zeros((n, 4)), cond_frames=C, dt=DT, resolution=32,
    )  # fmt: skip


def test_fitted_velocity_is_the_least_squares_slope_over_whole_detections():
    v = np.array([2.0, -1.5, 3.0])
    pos = _track(v)
    det = np.ones(pos.shape[:3], bool)
    radius = np.ones(pos.shape[:3])
    det[0, 5:8] = False  # gaps are skipped
    radius[1, 10:] = 0.5  # cut by the frame edge: left out
    pos[1, 10:, 0, 0] += 3.0  # (its centroid is off)
    det[2, C:] = False
    det[2, C : C + 2] = True  # two frames: too few
    out = st.fitted_velocity(pos, det, radius, C, DT)
    np.testing.assert_allclose(out[:2, 0, 0], v[:2], atol=1e-9)
    np.testing.assert_allclose(out[:2, 0, 1], 0.0, atol=1e-9)
    assert np.isnan(out[2]).all()
    pos[0, :C, 0, 0] = 99.0  # conditioning frames never enter
    np.testing.assert_allclose(st.fitted_velocity(pos, det, radius, C, DT)[0, 0, 0], 2.0, atol=1e-9)


def _gap_videos(rng, snap: bool) -> pd.DataFrame:
    g = GAP_SETTINGS["gap-2.0-3.0"]
    v = np.linspace(1.025, 3.975, 60)
    level = g.label(v)
    split = np.where(level == "seen", "id", "ood")
    # the snapping model moves every in-gap ball at the nearest seen band's edge
    v_gen = np.where(level == "gap", np.where(v < 2.5, 1.95, 3.05), v) if snap else v
    return st.gap_table(_observed(v, v_gen, level, split, rng), g)


def test_gap_landing_tells_a_snapping_model_from_the_law():
    rng = np.random.default_rng(0)
    law = pd.DataFrame(st.gap_rows(_gap_videos(rng, snap=False))).set_index("metric")
    snap = pd.DataFrame(st.gap_rows(_gap_videos(rng, snap=True)))
    snap_gap = snap[snap["level"] == "gap"].set_index("metric")
    n_gap = int((GAP_SETTINGS["gap-2.0-3.0"].label(np.linspace(1.025, 3.975, 60)) == "gap").sum())
    assert law.loc["gap_landing_gap", "value"] == 1.0
    assert law.loc["gap_landing_seen", "value"] == 0.0
    assert snap_gap.loc["gap_landing_seen", "value"] == 1.0
    assert snap_gap.loc["gap_landing_gap", "value"] == 0.0
    assert snap_gap.loc["gap_landing_gap", "floor"] == 1.0  # the ground-truth frames stay in the gap
    assert snap_gap.loc["gap_landing_seen", "n"] == n_gap
    # the speed error of in-gap videos is the snap distance; seen videos are untouched
    seen = snap[(snap["level"] == "seen") & (snap["metric"] == "speed_error")].iloc[0]
    assert snap_gap.loc["speed_error", "value"] > 0.2
    assert seen["value"] < 0.02


def test_speed_bins_report_median_and_quartiles():
    df = pd.DataFrame({"v_cond": [1.0, 1.1, 1.2, 1.3, 2.6], "v_gen": [1.0, 2.0, 3.0, 4.0, np.nan]})
    bins = st.speed_bins(df, np.array([1.0, 2.0, 3.0]))
    assert bins["n"].tolist() == [4, 0]
    assert bins.loc[0, "median"] == 2.5
    assert bins.loc[0, "q25"] == 1.75
    assert np.isnan(bins.loc[1, "median"])


def test_memorisation_rates_of_a_model_that_reverses():
    rng = np.random.default_rng(2)
    v = np.repeat(np.linspace(1.0, 2.4, 10), 4)  # 40 low-speed videos
    v_gen = np.where(np.arange(40) % 8 == 0, -1.5, 3.0)  # 5 reversed, 35 at training speed
    obs = _observed(v, v_gen, np.full(40, "low"), np.full(40, "ood"), rng)
    rows = pd.DataFrame(st.memo_rows(st.speed_table(obs))).set_index("metric")
    assert rows.loc["reversal_rate", "value"] == 5 / 40
    _, lo, hi = st.wilson_ci(5, 40)
    assert (rows.loc["reversal_rate", "ci_low"], rows.loc["reversal_rate", "ci_high"]) == (lo, hi)
    assert rows.loc["reversal_rate", "floor"] == 0.0
    assert rows.loc["training_speed_rate", "value"] == 35 / 40
    np.testing.assert_allclose(rows.loc["speed_shift", "value"], (v_gen - v).mean(), atol=1e-3)
    np.testing.assert_allclose(rows.loc["speed_shift", "floor"], 0.0, atol=1e-3)


def test_wilson_and_welch_intervals_against_hand_and_scipy_values():
    p, lo, hi = st.wilson_ci(5, 10)
    np.testing.assert_allclose((p, lo, hi), (0.5, 0.236593, 0.763407), atol=1e-6)
    assert st.wilson_ci(0, 10)[1:] == (0.0, pytest.approx(0.277533, abs=1e-6))
    assert np.isnan(st.wilson_ci(0, 0)[0])
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.5, 0.7, 0.9])
    diff, lo, hi, n = st.welch_ci(a, b)
    res = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    np.testing.assert_allclose((lo, hi), (res.low, res.high), rtol=1e-9)
    assert diff == pytest.approx(a.mean() - b.mean())
    assert n == 7


def _hole_videos() -> tuple[pd.DataFrame, np.ndarray]:
    train = np.array([[v1, v2] for v1 in np.linspace(1, 4, 7) for v2 in np.linspace(1, 4, 7)
                      if not (2.0 <= v1 <= 3.0 and 2.0 <= v2 <= 3.0)])  # fmt: skip
    rows = []
    for i, (v1, v2, level, err) in enumerate([
        (1.5, 1.5, "seen", 0.10), (3.5, 1.5, "seen", 0.12), (2.5, 2.5, "in_hull", 0.15), (2.25, 2.75, "in_hull", 0.13),
        (0.5, 2.0, "out_of_hull", 0.9), (4.5, 3.0, "out_of_hull", 1.1), (0.0, 1.0, "out_of_hull", 1.0),
    ]):  # fmt: skip
        rows.append({"index": i, "split": "id" if level == "seen" else "ood", "level": level, "r1": 1.0, "r2": 1.0,
                     "v1": v1, "v2": v2, "value": err, "floor": 0.01})  # fmt: skip
    params = np.column_stack([np.ones(len(train)), np.ones(len(train)), train])
    return pd.DataFrame(rows), params


def test_hull_table_rows_and_heat_map():
    videos, params = _hole_videos()
    names = ("r1", "r2", "v1", "v2")
    table = st.hull_table(videos, params, names, ("v1", "v2"))
    assert table["inside_hull"].tolist() == [True, True, True, True, False, False, False]
    rows = pd.DataFrame(st.hull_rows(table, "velocity_error")).set_index("metric")
    gap = rows.loc["velocity_error_out_minus_in_hull"]
    assert gap["value"] == pytest.approx(1.0 - 0.14)
    assert gap["ci_low"] > 0
    assert gap["floor"] == pytest.approx(0.0)
    heat = st.hull_heat(table, ("v1", "v2"))
    assert len(heat) == 7
    assert set(heat.columns) >= {"v1", "v2", "value", "floor", "n", "level"}


def test_hull_labels_of_another_training_set_are_refused():
    videos, params = _hole_videos()
    names = ("r1", "r2", "v1", "v2")
    small = params[(params[:, 2] <= 2.0) & (params[:, 3] <= 2.0)]  # a training set whose hull is [1, 2]^2
    with pytest.raises(PhylawError, match="evaluation data of another training set") as exc:
        st.hull_table(videos, small, names, ("v1", "v2"))
    assert "\n" not in str(exc.value)
