"""Case-based retrieval: exact nearest neighbours (vs brute force), the case-vs-law index on fake models that
copy their nearest case or follow the law, and one-line errors for mismatched inputs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from phylaw.datasets import open_dataset
from phylaw.datasets.build import generate
from phylaw.datasets.samples import SampleWriter, finish, part_path
from phylaw.errors import PhylawError
from phylaw.evaluate import retrieval as rt
from phylaw.evaluate.studies import observe
from phylaw.render import render

T, RES, C = 10, 32, 3


def write_samples(path: Path, data: Path, index: np.ndarray, frames: np.ndarray) -> Path:
    """A phylaw sample file holding ``frames`` (n, T, H, W, 3) for dataset rows ``index`` (a fake model)."""
    with open_dataset(data) as ds:
        fp = ds.fingerprint
    attrs = {"format": "phylaw-samples", "format_version": 1, "dataset_fingerprint": fp, "cond_frames": C,
             "n_frames": frames.shape[1], "resolution": frames.shape[2], "checkpoint": "fake", "steps": 1, "seed": 0,
             "condition": "reimpose"}  # fmt: skip
    with SampleWriter(part_path(path, 0, 1), attrs, index, frames.shape[1], frames.shape[2]) as w:
        w.write(np.arange(len(index)), frames)
    return finish(path, attrs, index, 1, frames.shape[1], frames.shape[2])


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A gap training set (300 videos) and 60 evaluation videos at 32 px, 10 frames."""
    root = tmp_path_factory.mktemp("retrieval")
    train = generate("uniform_motion", "gap-2.0-3.0-tiny", root / "train.h5", resolution=RES, n_frames=T,
                     limit=300, progress=False)  # fmt: skip
    data = generate("uniform_motion", "gap-2.0-3.0-eval-small", root / "eval.h5", resolution=RES, n_frames=T,
                    limit=60, progress=False)  # fmt: skip
    return {"root": root, "train": train, "eval": data}


def _assert_knn(nn: np.ndarray, train: np.ndarray, query: np.ndarray) -> None:
    """``nn`` (m, k) are k nearest rows of ``train`` to each query: their brute-force distances are the k
    smallest, in order (ties may come in any order)."""
    d = np.sqrt(
        ((query[:, None, :].astype(np.float64) - train[None].astype(np.float64)) ** 2).sum(-1)
    )  # (m, N)
    k = nn.shape[1]
    got = np.take_along_axis(d, nn, axis=1)
    want = np.sort(d, axis=1)[:, :k]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert (np.diff(got, axis=1) >= -1e-6).all()
    assert all(len(set(row)) == k for row in nn.tolist())


def test_frame_index_returns_the_true_nearest_neighbours(files):
    with open_dataset(files["train"]) as tds, open_dataset(files["eval"]) as eds:
        raw_train = rt.frame_features(rt._cond_frames(tds, 0, len(tds), C))  # (N, D)
        query = rt.frame_features(np.stack([eds.frames(i)[:C] for i in range(20)]))
        full = rt.build_frame_index(tds, C, n_components=None, block=128)  # every direction: exact distances
        _, nn = full.query(query, k=4)
        _assert_knn(nn, raw_train, query)
        small = rt.build_frame_index(tds, C, n_components=4, fit_rows=200, block=128)  # randomized PCA
        assert small.features.shape == (len(tds), 4)
        _, nn = small.query(query, k=3)
        _assert_knn(nn, small.features, small.project(query))
        again = rt.build_frame_index(tds, C, n_components=4, fit_rows=200, block=64)
        np.testing.assert_array_equal(again.features, small.features)  # seeded: blocks do not matter


def test_param_index_is_exact_in_scaled_parameters(files):
    with open_dataset(files["train"]) as tds:
        index = rt.build_param_index(tds, C)
        params = np.asarray(tds.params)
        scale = params.max(0) - params.min(0)
        q = np.array([[1.0, 2.5], [0.8, 1.1], [1.45, 3.9]])
        _, nn = index.query(q, k=5)
        _assert_knn(nn, params / scale, q / scale)
        # the nearest training speed of an in-gap query is a band edge, never inside the gap
        near = params[nn[0, 0], 1]
        assert near <= 2.0 or near >= 3.0


def test_index_round_trips_through_its_cache(files, tmp_path):
    with open_dataset(files["train"]) as tds:
        index = rt.build_frame_index(tds, C, fit_rows=100)
    rt.save_index(index, tmp_path / "i.npz")
    back = rt.load_index(tmp_path / "i.npz")
    np.testing.assert_array_equal(back.features, index.features)
    q = np.random.default_rng(0).random((5, index.mean.shape[0]))
    np.testing.assert_array_equal(back.query(q, 2)[1], index.query(q, 2)[1])
    assert (back.kind, back.resolution, back.cond_frames) == ("frames", RES, C)


def _pos(v: np.ndarray, t: int = 12, x0: float = 2.0) -> np.ndarray:
    """(n, T, 1, 2) uniform motion at speeds v from x0."""
    x = x0 + v[:, None] * (np.arange(t) * 0.1)[None]
    return np.stack([x, np.full_like(x, 5.0)], -1)[:, :, None, :]


def test_case_vs_law_index_of_fake_models():
    rng = np.random.default_rng(1)
    v_law = rng.uniform(1.0, 4.0, 200)
    v_case = rng.uniform(1.0, 4.0, 200)
    law, case = _pos(v_law), _pos(v_case)
    det = np.ones(law.shape[:3], bool)
    noise = rng.normal(0, 0.02, law.shape)  # the parser's sub-pixel jitter
    copier = np.concatenate([law[:, :C], case[:, C:] - case[:, C - 1 : C] + law[:, C - 1 : C]], axis=1)
    follows = rt.case_law(law + noise, det, law, case, 0.1, C)
    copies = rt.case_law(copier + noise, det, law, case, 0.1, C)
    p_law, _, _, n = rt.case_index(follows)
    p_case, lo, hi, _ = rt.case_index(copies)
    informative = np.abs(v_case - v_law) >= rt.MIN_SEPARATION
    assert n == informative.sum()
    assert p_law == 0.0
    assert p_case == 1.0
    assert lo > 0.95
    assert hi == 1.0
    np.testing.assert_allclose(follows["d_case_law"], np.abs(v_case - v_law), atol=1e-9)
    # halfway between law and case: closer to whichever it leans to
    lean = law + 0.6 * (copier - law)
    table = rt.case_law(lean, det, law, case, 0.1, C)
    assert rt.case_index(table)[0] == 1.0
    # undetected frames do not count; a video with none is not informative
    none = det.copy()
    none[:5, C:] = False
    table = rt.case_law(copier, none, law, case, 0.1, C)
    assert not table["informative"][:5].any()
    assert np.isnan(table["d_law"][:5]).all()


def test_fake_models_end_to_end(files):
    """From files: a model that shows the ground truth scores index 0; one that continues its condition at the
    speed of its nearest training case (by conditioning frames) scores index 1."""
    root = files["root"]
    with open_dataset(files["eval"]) as eds, open_dataset(files["train"]) as tds:
        idx = np.arange(len(eds))
        gt = np.stack([eds.frames(i) for i in idx])
        law = write_samples(root / "law.h5", files["eval"], idx, gt)
        index = rt.build_frame_index(tds, C)
        _, nn = index.query(rt.frame_features(gt[:, :C]), 1)
        v_case = np.asarray(tds.params)[nn[:, 0], 1]
        states = eds.trajectories(idx)
        pos = states.position.copy()
        steps = np.arange(1, T - C + 1) * 0.1  # frames c.. after frame c - 1
        pos[:, C:, 0, 0] = pos[:, C - 1 : C, 0, 0] + v_case[:, None] * steps[None]
        copier = write_samples(
            root / "copier.h5", files["eval"], idx, render(replace(states, position=pos), RES)
        )
        results = {}
        for name, path in (("law", law), ("copier", copier)):
            table = rt.case_table(observe(files["eval"], path), tds, index)
            results[name] = rt.case_index(table)
    assert results["law"][3] >= 30
    assert results["law"][0] <= 0.05
    assert results["copier"][0] >= 0.95


def test_mismatched_queries_are_one_line_errors(files, datasets):
    with open_dataset(files["train"]) as tds:
        index = rt.build_param_index(tds, C)
        frames = rt.build_frame_index(tds, C, fit_rows=50)
    with pytest.raises(PhylawError, match="show collision videos but the training set holds uniform_motion"):
        index.check_query("collision", RES, "the generated videos")
    with pytest.raises(PhylawError, match="are 64 px but the training set's frames are 32 px"):
        frames.check_query("uniform_motion", 64, "the generated videos")
    with pytest.raises(PhylawError, match="k must lie in"):
        index.query(np.zeros((1, 2)), k=0)
    with pytest.raises(PhylawError, match="cannot be averaged to 16 px"):
        rt.frame_features(np.zeros((1, 3, 20, 20, 3), np.uint8))
    with pytest.raises(PhylawError, match="unknown retrieval kind"):
        rt.build_index(None, "latent", C)
    obs = observe(files["eval"], write_samples(files["root"] / "q.h5", files["eval"], np.arange(4),
                                               np.stack([open_dataset(files["eval"]).frames(i) for i in range(4)])))  # fmt: skip
    with (
        open_dataset(datasets("collision", 32, 4)) as other,
        pytest.raises(PhylawError, match="not built from"),
    ):
        rt.case_table(obs, other, index)
    assert isinstance(rt.case_table(obs, open_dataset(files["train"]), index), pd.DataFrame)
