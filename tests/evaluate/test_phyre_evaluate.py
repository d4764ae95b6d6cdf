"""`phylaw evaluate` on PHYRE-style datasets: the ``phyre`` metric set, per-frame curves, weights that are
missing, the release's {template}-{task:05d}-{trial}.mp4 files, the judge's flagged-video section."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from phylaw.cli.main import main
from phylaw.datasets.build import generate
from phylaw.datasets.reader import open_dataset
from phylaw.errors import PhylawError
from phylaw.evaluate import EvalOptions, evaluate
from phylaw.evaluate import registry as reg
from phylaw.io import encode_mp4

N, RES, T = 6, 64, 12


@pytest.fixture(scope="module")
def phyre_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("phyre_eval") / "oot.h5"
    return generate(
        "phyre", "eval-out-of-template-small", path, resolution=RES, limit=N, n_frames=T, progress=False
    )


def _release_folder(data, folder, corrupt: dict[int, int]) -> dict[int, str]:
    """3-panel [GT | GT | video] MP4s named as the release names them; video = GT with ``corrupt[i]`` frames
    from the end replaced by white. Returns index -> file name."""
    folder.mkdir()
    names = {}
    with open_dataset(data) as ds:
        for i in range(len(ds)):
            gt = ds.frames(i)
            video = gt.copy()
            k = corrupt.get(i, 0)
            if k:
                video[-k:] = 255
            t, task, trial = (int(x) for x in ds.params[i])
            name = f"{t}-{task:05d}-{trial}.mp4"
            (folder / name).write_bytes(encode_mp4(np.concatenate([gt, gt, video], axis=2), crf=0))
            names[i] = name
    return names


def test_phyre_is_the_default_set_and_scores_pixels(phyre_data, tmp_path):
    res = evaluate(phyre_data, None, tmp_path / "floor", metrics=["ssim", "psnr"])
    s = res.summary.set_index(["metric", "level"])
    assert s.loc[("ssim", "out-of-template"), "mean"] == pytest.approx(1.0)
    assert s.loc[("psnr", "out-of-template"), "mean"] == pytest.approx(100.0)
    assert s.loc[("ssim", "out-of-template"), "n"] == N
    frames = pd.read_csv(res.frame_metrics_csv)
    assert len(frames) == 2 * N * T  # one row per video, metric and frame
    assert set(frames["frame"]) == set(range(T))
    assert "value_frames" not in pd.read_csv(res.metrics_csv).columns
    assert "1 videos" not in res.summary_md.read_text()
    assert "c = 1" in res.summary_md.read_text()


def test_release_named_three_panel_mp4s(phyre_data, tmp_path):
    names = _release_folder(phyre_data, tmp_path / "vids", {2: 5, 4: 1})
    res = evaluate(phyre_data, tmp_path / "vids", tmp_path / "ev", metrics=["ssim", "psnr"])
    rows = pd.read_csv(res.metrics_csv)
    ssim = rows[rows.metric == "ssim"].set_index("index")
    assert ssim.loc[2, "source"] == names[2]  # bound by (template, task, trial), not by the trailing digits
    # the corrupted videos are worse, the more frames corrupted the worse; the others lose only the
    # chroma subsampling of yuv420p (crf 0)
    assert ssim.loc[2, "value"] < ssim.loc[4, "value"] < ssim.loc[0, "value"]
    assert ssim.loc[0, "value"] > 0.98
    frames = pd.read_csv(res.frame_metrics_csv)
    curve = (
        frames[(frames.metric == "psnr") & (frames["index"] == 2)].sort_values("frame")["value"].to_numpy()
    )
    assert curve[-5:].max() + 10 < curve[:-5].min()  # the per-frame curve shows where it broke


def test_release_name_without_a_dataset_row_is_one_line(phyre_data, tmp_path, capsys):
    _release_folder(phyre_data, tmp_path / "vids", {})
    (tmp_path / "vids" / "10069-00099-7.mp4").write_bytes(
        (tmp_path / "vids").glob("*.mp4").__next__().read_bytes()
    )
    with pytest.raises(PhylawError, match=r"10069-00099-7\.mp4: the dataset has no video of template 10069"):
        evaluate(phyre_data, tmp_path / "vids", tmp_path / "ev", metrics=["ssim"])
    rc = main(["evaluate", "--data", str(phyre_data), "--videos", str(tmp_path / "vids"),
               "--out", str(tmp_path / "ev2"), "--metrics", "ssim", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1
    assert "template 10069, task 99, trial 7" in err[0]
    assert not (tmp_path / "ev2" / "metrics.csv").exists()


def test_missing_weights_not_computed_others_run(phyre_data, tmp_path, monkeypatch):
    monkeypatch.delenv("PHYLAW_ALEXNET_WEIGHTS", raising=False)
    monkeypatch.setenv("PHYLAW_WEIGHTS_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    res = evaluate(phyre_data, None, tmp_path / "ev", metrics=["psnr", "lpips"])
    assert set(res.summary["metric"]) == {"psnr"}
    assert "lpips" in res.not_computed
    assert "--alexnet-weights" in res.not_computed["lpips"]
    assert "lpips: not computed" in res.summary_md.read_text()
    with pytest.raises(PhylawError, match="no metric can be computed: lpips"):
        evaluate(phyre_data, None, tmp_path / "ev2", metrics=["lpips"])


def test_metric_sets_check_their_scenarios(phyre_data, tmp_path):
    with pytest.raises(PhylawError, match="metric set 'phylaw' has no recipe for scenario 'phyre'"):
        evaluate(phyre_data, None, tmp_path / "ev", options=EvalOptions(metric_set="phylaw"))
    assert reg.default_metric_set("phyre") == "phyre"
    assert reg.default_metric_set("collision") == reg.DEFAULT_METRIC_SET


class PoolI3D(torch.nn.Module):
    """I3D's TorchScript call signature; features = a fixed projection of a coarse space-time pooling."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.proj = torch.nn.Parameter(torch.randn(3 * 2 * 4 * 4, 400, generator=g), requires_grad=False)

    def forward(
        self, x: torch.Tensor, rescale: bool = False, resize: bool = False, return_features: bool = True
    ) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool3d(x, (2, 4, 4)).flatten(1) @ self.proj


def test_fvd_is_a_set_metric_with_a_zero_floor(phyre_data, tmp_path):
    script = tmp_path / "i3d_torchscript.pt"
    torch.jit.script(PoolI3D()).save(str(script))
    _release_folder(phyre_data, tmp_path / "vids", {1: 6, 3: 6, 5: 6})
    opt = EvalOptions(metrics=("fvd", "psnr"), weights=(("i3d", str(script)),))
    res = evaluate(phyre_data, tmp_path / "vids", tmp_path / "ev", options=opt)
    row = res.summary[(res.summary.metric == "fvd") & (res.summary.level == "out-of-template")].iloc[0]
    assert row["n"] == N
    assert row["floor_mean"] == pytest.approx(0.0, abs=1e-6)  # ground truth against itself
    assert row["mean"] > 1e-3  # half the videos go white for their last 6 frames
    assert row["ci95_lo"] <= row["mean"] <= row["ci95_hi"]
    stats = pd.read_csv(res.set_stats_csv)
    assert stats["stat_dim"].iloc[0] == 400
    assert not res.not_computed


def _vanished_ball_folder(data, folder):
    """The dataset's videos as .npy files, video 0 with the red ball painted out from frame 5."""
    folder.mkdir()
    with open_dataset(data) as ds:
        for i in range(len(ds)):
            video = ds.frames(i).copy()
            if i == 0:
                red = (video[..., 0] > 200) & (video[..., 1] < 120) & (video[..., 2] < 120)
                red[:5] = False
                video[red] = 255
            np.save(folder / f"{i}.npy", video)
    return folder


def test_judge_flags_a_vanished_ball_with_its_reason_and_a_gif(phyre_data, tmp_path):
    """The red ball painted out from frame 5: abnormal (Type 3), the reason names the disappearance, and the
    summary lists it with a GIF; outcome_type is 3 exactly where abnormal is 1."""
    folder = _vanished_ball_folder(phyre_data, tmp_path / "vids")
    res = evaluate(phyre_data, folder, tmp_path / "ev", metrics=["abnormal", "outcome_type"])
    rows = pd.read_csv(res.metrics_csv)
    ab = rows[rows.metric == "abnormal"].set_index("index")
    ot = rows[rows.metric == "outcome_type"].set_index("index")
    assert ab.loc[0, "value"] == 1
    assert "disappearance" in ab.loc[0, "detail"]
    assert ((ot["value"] == 3) == (ab["value"] == 1)).all()
    assert (tmp_path / "ev" / "flagged" / "000000.gif").exists()
    md = res.summary_md.read_text()
    assert "## Videos the judge flags" in md
    assert "flagged/000000.gif" in md
    assert "abnormal" in md
    assert "Wilson" in md


def test_a_broken_weight_file_stops_before_scoring(phyre_data, tmp_path, capsys):
    """A weight file that exists but is not the network: one line naming it, exit 2, no CSV."""
    bad = tmp_path / "alexnet-owt-7be5be79.pth"
    bad.write_bytes(b"not a torch file")
    rc = main(["evaluate", "--data", str(phyre_data), "--out", str(tmp_path / "ev"), "--metrics", "psnr,lpips",
               "--alexnet-weights", str(bad), "--quiet"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1
    assert str(bad) in err[0]
    assert not (tmp_path / "ev" / "metrics.csv").exists()


def test_the_judge_config_is_the_one_scored_with(phyre_data, tmp_path, capsys):
    """``--judge-config`` (a judge-suite's judge_config.json): with every rule's factor 0 nothing is flagged,
    not even the vanished ball the default judge flags; the same output directory is re-scored, not resumed;
    a missing or wrong file and a metric set without the judge are one line, exit 2, nothing written."""
    import json

    from phylaw.evaluate.judge import VIOLATIONS, JudgeConfig

    folder = _vanished_ball_folder(phyre_data, tmp_path / "vids")
    off = JudgeConfig().to_dict()
    off["factors"] = dict.fromkeys(VIOLATIONS, 0.0)
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "judge_config.json").write_text(json.dumps(off))
    out = tmp_path / "ev"

    def abnormal(**kw) -> pd.Series:
        res = evaluate(phyre_data, folder, out, metrics=["abnormal"], options=EvalOptions(**kw))
        rows = pd.read_csv(res.metrics_csv)
        return rows[rows.metric == "abnormal"].set_index("index")["value"]

    assert abnormal()[0] == 1
    assert (abnormal(judge_config=str(tmp_path / "suite")) == 0).all()  # the directory finds its json
    assert abnormal(judge_config=str(tmp_path / "suite" / "judge_config.json"))[0] == 0

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"no_such_threshold": 1}))
    for config, needle in ((tmp_path / "missing.json", "not found"), (bad, "no_such_threshold")):
        rc = main(["evaluate", "--data", str(phyre_data), "--videos", str(folder), "--out", str(tmp_path / "x"),
                   "--judge-config", str(config), "--quiet"])  # fmt: skip
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2
        assert len(err) == 1
        assert needle in err[0]
        assert not (tmp_path / "x" / "metrics.csv").exists()
    with pytest.raises(PhylawError, match="phyre metric set"):
        evaluate(phyre_data, folder, tmp_path / "y", options=EvalOptions(metric_set="phylaw",
                                                                         judge_config=str(tmp_path / "suite")))


def test_final_frame_agreement_ignores_specks_not_bodies():
    """Type 1 reads the last frames' components: specks under the parser's MIN_AREA (a decoder's soft edge
    between a black peg and white reads as 1-2 gray pixels) do not count; a missing body does."""
    from phylaw.evaluate.objects import MIN_AREA
    from phylaw.evaluate.phyre_metrics import _components_within

    body = np.zeros((64, 64), bool)
    body[10:20, 10:20] = True
    specks = body.copy()
    specks[40, 40] = specks[50, 5] = specks[30, 50:52] = True  # 1, 1 and 2 pixels, far from the body
    assert _components_within(specks, body, 2.0) == (1, 1)
    assert _components_within(body, specks, 2.0) == (1, 1)
    extra = specks.copy()
    side = int(np.ceil(np.sqrt(MIN_AREA)))
    extra[45 : 45 + side, 45 : 45 + side] = True  # a body of MIN_AREA pixels or more where the other has none
    assert _components_within(extra, body, 2.0) == (1, 2)
