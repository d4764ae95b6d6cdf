"""Metric kinds and inputs: set metrics (Fréchet distance, bootstrap CI) and what a metric is passed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from phylaw.datasets.reader import open_dataset
from phylaw.errors import PhylawError
from phylaw.evaluate import EvalOptions, evaluate
from phylaw.evaluate import registry as reg
from phylaw.evaluate.metrics import build_context, frechet_distance, state_features
from phylaw.evaluate.report import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, bootstrap_ci, mean_ci, summarize
from phylaw.sim.kinematics import simulate

from .conftest import perfect_parse

C = 3


def test_frechet_distance_hand_computed():
    """1-D: (μ1 − μ2)² + (σ1 − σ2)². 2-D with ref = 2·gen + s: Σr = 4Σg, so Tr(Σg + Σr − 2(ΣgΣr)^½) = TrΣg."""
    # gen 1, 3: μ 2, σ² 2; ref 0, 4: μ 2, σ² 8 -> (√2 − √8)² = 2
    np.testing.assert_allclose(frechet_distance(np.array([[1.0], [3.0]]), np.array([[0.0], [4.0]])), 2.0)
    gen = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])  # μ (1, 1), Σ = diag(4/3, 4/3)
    ref = 2 * gen + np.array([1.0, 0.0])  # μ (3, 2)
    np.testing.assert_allclose(frechet_distance(gen, ref), 5.0 + 8.0 / 3.0, rtol=1e-12)
    np.testing.assert_allclose(frechet_distance(gen, gen), 0.0, atol=1e-12)
    # correlated features, checked against scipy's general matrix square root
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(40, 3)) @ rng.normal(size=(3, 3)), rng.normal(size=(50, 3)) + 0.5
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    want = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(sa + sb - 2 * sqrtm(sa @ sb).real)
    np.testing.assert_allclose(frechet_distance(a, b), want, rtol=1e-9)
    assert np.isnan(frechet_distance(gen[:1], ref))


def test_state_features_and_velocity_offset(rng):
    """Features are (mean v̂ (2), mean r̂) per object; a parsed velocity off by dv in every video moves the
    generated Gaussian by dv and leaves its covariance: the distance is exactly |dv|²."""
    truth = simulate("uniform_motion", np.array([[1.0, 2.0], [0.8, 3.5], [1.3, 1.0], [0.9, 2.5]]), rng)
    ctx = build_context(perfect_parse(truth), truth, C)
    f = state_features(ctx)
    assert f.shape == (4, 2, 3)
    np.testing.assert_allclose(f[:, 0], f[:, 1], atol=1e-9)  # perfect parse: generated = true features
    np.testing.assert_allclose(f[:, 1, 2], truth.radius[:, 0])
    np.testing.assert_allclose(np.linalg.norm(f[:, 1, :2], axis=1), [2.0, 3.5, 1.0, 2.5], rtol=1e-9)
    dv = np.array([0.3, -0.4])
    t = np.arange(truth.n_frames) * 0.1
    pos = truth.position + np.clip(t - C * 0.1, 0, None)[None, :, None, None] * dv
    f = state_features(build_context(perfect_parse(replace(truth, position=pos)), truth, C))
    np.testing.assert_allclose(f[:, 0, :2] - f[:, 1, :2], np.broadcast_to(dv, (4, 2)), atol=1e-9)
    m = reg.METRICS["state_frechet_distance"]
    assert (m.kind, m.needs) == ("set", ("parsed", "truth"))
    np.testing.assert_allclose(m.compute(f[:, 0], f[:, 1]), 0.25, rtol=1e-9)


def test_bootstrap_ci_is_the_documented_95_percentile_interval():
    """Reproduced from its definition (seeded draws, 2.5/97.5 percentiles); for a mean of many values it is
    close to the Student-t 95 % interval (a 90 % percentile interval is ~16 % narrower and fails)."""
    x = np.random.default_rng(11).normal(size=400)
    lo, hi = bootstrap_ci(lambda i: float(x[i].mean()), len(x))
    idx = np.random.default_rng(BOOTSTRAP_SEED).integers(0, len(x), size=(BOOTSTRAP_RESAMPLES, len(x)))
    np.testing.assert_allclose([lo, hi], np.percentile(x[idx].mean(axis=1), [2.5, 97.5]), rtol=1e-12)
    _, _, tlo, thi = mean_ci(x)
    assert abs((hi - lo) / (thi - tlo) - 1) < 0.06
    assert np.isnan(bootstrap_ci(lambda i: 0.0, 1)).all()


def _set_rows(gen, ref, floor_gen, level="id"):
    d = gen.shape[1]
    cols = {f"{p}_{k}": a[:, k] for p, a in (("gen", gen), ("ref", ref), ("floor_gen", floor_gen),
                                             ("floor_ref", ref)) for k in range(d)}  # fmt: skip
    return pd.DataFrame({"split": "id", "level": level, "metric": "fd", "unit": "u", "higher_is_better": False,
                         "status": "ok", "included": True, "stat_dim": d, **cols})  # fmt: skip


def test_set_metric_summary_row():
    """One value per split/level from compute(), bootstrap CI, the floor over the same videos, kind "set"."""
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(30, 2))
    gen, fgen = ref + np.array([1.0, 0.0]), ref + rng.normal(scale=0.01, size=(30, 2))
    gen[4] = np.nan  # undefined for the model: left out of model and floor alike
    fgen[7] = np.nan  # no floor: left out of both too
    s = summarize(pd.DataFrame(), set_rows=_set_rows(gen, ref, fgen), computes={"fd": frechet_distance})
    assert len(s) == 1
    r = s.iloc[0]
    keep = (np.arange(30) != 4) & (np.arange(30) != 7)
    assert (r.kind, r.n_videos, r.n, r.n_nan, r.floor_n) == ("set", 30, 28, 2, 28)
    np.testing.assert_allclose(r["mean"], frechet_distance(gen[keep], ref[keep]))
    np.testing.assert_allclose(r["mean"], 1.0, rtol=1e-9)
    np.testing.assert_allclose(r.floor_mean, frechet_distance(fgen[keep], ref[keep]))
    assert r.ci95_lo <= r["mean"] <= r.ci95_hi
    assert r.floor_ci95_hi < r.ci95_lo  # the floor is far below a 1-unit shift
    again = summarize(pd.DataFrame(), set_rows=_set_rows(gen, ref, fgen), computes={"fd": frechet_distance})
    pd.testing.assert_frame_equal(s, again)  # seeded: same inputs, same numbers


def test_evaluate_writes_set_rows_and_passes_frames_only_to_metrics_that_need_them(
    uniform64, tmp_path, monkeypatch
):
    ds = open_dataset(uniform64)
    v = tmp_path / "v"
    v.mkdir()
    for i in range(len(ds)):
        frames = ds.frames(i).copy()
        frames[:, :2] = (
            0  # a black band: changes the frames' mean, not the parse (black is no palette colour)
        )
        np.save(v / f"{i}.npy", frames)

    def mean_frame(ctx):
        assert ctx.gt_frames is not None
        assert ctx.parsed is None
        return ctx.frames.mean(axis=(1, 2, 3, 4)) - ctx.gt_frames.mean(axis=(1, 2, 3, 4))

    def no_frames(ctx):
        assert ctx.frames is None
        assert ctx.gt_frames is None
        assert ctx.truth is not None
        return np.zeros(len(ctx.pos))

    metrics = {
        "frame_delta": reg.Metric("frame_delta", "grey", None, mean_frame, needs=("frames", "gt_frames")),
        "states_only": reg.Metric("states_only", "1", None, no_frames),
    }
    for name, m in metrics.items():
        monkeypatch.setitem(reg.METRICS, name, m)
    res = evaluate(
        uniform64, v, tmp_path / "o", metrics=["frame_delta", "states_only", "state_frechet_distance"]
    )
    rows = pd.read_csv(res.metrics_csv)
    fd = rows[rows.metric == "frame_delta"].set_index("index")
    want = [-ds.frames(i)[:, :2].astype(np.float64).sum() / ds.frames(i).size for i in range(len(ds))]
    np.testing.assert_allclose(fd.sort_index()["value"], want, rtol=1e-9)
    assert (fd["floor"] == 0).all()  # the floor is the metric on the GT frames: frames == gt_frames
    assert "state_frechet_distance" not in set(rows.metric)
    stats = pd.read_csv(res.set_stats_csv)
    assert len(stats) == len(ds)
    assert (stats.stat_dim == 3).all()
    s = res.summary.set_index(["metric", "split", "level"])
    row = s.loc[("state_frechet_distance", "id", "id")]
    assert row["kind"] == "set"
    assert row["n"] == row["floor_n"] == row["n_videos"]
    np.testing.assert_allclose(row["mean"], row["floor_mean"])  # same parse: the band holds no ball
    assert s.loc[("frame_delta", "id", "id"), "kind"] == "video"
    assert "bootstrap" in res.summary_md.read_text()


def test_bad_metric_declarations(uniform64, tmp_path, monkeypatch):
    with pytest.raises(PhylawError, match="kind must be"):
        reg.Metric("x", "u", False, lambda c: c, kind="pairwise")
    with pytest.raises(PhylawError, match="needs compute"):
        reg.Metric("x", "u", False, lambda c: c, kind="set")
    with pytest.raises(PhylawError, match="unknown inputs"):
        reg.Metric("x", "u", False, lambda c: c, needs=("latents",))
    bad = reg.Metric(
        "bad", "u", False, lambda c: np.zeros((len(c.pos), 3)), kind="set", compute=frechet_distance
    )
    monkeypatch.setitem(reg.METRICS, "bad", bad)
    with pytest.raises(PhylawError, match=r"metric bad \(set\) returned shape \(4, 3\)"):
        evaluate(uniform64, None, tmp_path / "o", options=EvalOptions(metrics=("bad",), limit=4, floor=False))
