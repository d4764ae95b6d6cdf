"""Pure helpers of the real stages: evaluation subsets, evaluator summary -> tidy results, launch commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.experiments.conftest import make_plan

from phylaw.errors import PhylawError
from phylaw.evaluate.report import SUMMARY_COLUMNS
from phylaw.experiments.experiment import RESULT_COLUMNS
from phylaw.experiments.spec import identity
from phylaw.experiments.stages import eval_indices, tidy_results, train_config
from phylaw.train.launch import LaunchOptions, torchrun_command


def test_eval_indices_spread_over_levels_and_deterministic():
    split = np.array(["id"] * 50 + ["ood"] * 60)
    level = np.array(["id"] * 50 + ["a"] * 20 + ["b"] * 20 + ["c"] * 20)
    idx = eval_indices(split, level, (("id", 10), ("ood", 7)), seed=0)
    assert len(idx) == 17
    assert np.all(np.diff(idx) > 0)
    assert (split[idx] == "id").sum() == 10
    assert sorted(pd.Series(level[idx][split[idx] == "ood"]).value_counts().tolist()) == [2, 2, 3]
    np.testing.assert_array_equal(idx, eval_indices(split, level, (("id", 10), ("ood", 7)), seed=0))
    assert not np.array_equal(idx, eval_indices(split, level, (("id", 10), ("ood", 7)), seed=1))
    np.testing.assert_array_equal(eval_indices(split, level, (), seed=0), np.arange(110))


def _summary(pooled_name: str) -> pd.DataFrame:
    rows = []
    for metric in ("velocity_error", "parse_failure_rate"):
        for split, level, mean in (
            ("id", "id", 0.2),
            ("ood", "r_ood", 0.5),
            ("ood", "v_ood", 1.5),
            ("ood", pooled_name, 1.0),
        ):
            value = mean if metric == "velocity_error" else 0.1
            rows.append(dict.fromkeys(SUMMARY_COLUMNS, 0) | {
                "split": split, "level": level, "metric": metric, "mean": value, "ci95_lo": value - 0.1,
                "ci95_hi": value + 0.1, "n": 30, "floor_mean": 0.14,
            })  # fmt: skip
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


@pytest.mark.parametrize("pooled_name", ["pooled", "all"])
def test_tidy_results_from_evaluator_summary(pooled_name):
    spec = make_plan().cells[0]
    tidy = tidy_results(_summary(pooled_name), spec)
    assert list(tidy.columns) == list(RESULT_COLUMNS)
    v = tidy[tidy["metric"] == "velocity_error"].set_index(["split", "level"])["value"]
    assert v.to_dict() == {("id", "id"): 0.2, ("id", "pooled"): 0.2, ("ood", "r_ood"): 0.5, ("ood", "v_ood"): 1.5,
                           ("ood", "pooled"): 1.0}  # fmt: skip
    assert (tidy["run_id"] == spec.run_id).all()
    assert (tidy["parse_fail_rate"] == 0.1).all()


def test_train_config_maps_the_cell_spec(tmp_path):
    from phylaw.experiments.registry import get_plan

    spec = get_plan("fig3", "tiny").cells[0]
    cfg = train_config(spec, tmp_path / "data.h5")
    assert cfg.model.preset == spec.model
    assert cfg.schedule.steps == spec.train.steps
    assert cfg.optim.batch_size == spec.train.batch_size
    assert cfg.data.resolution == spec.train_data.resolution
    assert cfg.data.n_frames == spec.train_data.n_frames
    if spec.train.autoencoder == "identity":
        assert cfg.autoencoder.space_to_depth == spec.train.space_to_depth
    else:
        assert cfg.autoencoder.kind == "vae"
        assert cfg.autoencoder.spatial_factor == spec.train.vae_factor
    assert cfg.data.train == str(tmp_path / "data.h5")


def test_torchrun_commands(tmp_path):
    one = torchrun_command(LaunchOptions(nproc_per_node=8), tmp_path / "c.yaml", tmp_path / "run")
    assert "--standalone" in one
    assert "--nproc-per-node=8" in one
    tail = [
        "-m",
        "phylaw.cli.main",
        "train",
        "--config",
        str(tmp_path / "c.yaml"),
        "--out",
        str(tmp_path / "run"),
    ]
    assert one[-len(tail) - 2 : -2] == tail
    assert one[-2:] == ["--resume", "--quiet"]
    multi = torchrun_command(LaunchOptions(8, 4, 2, "node0:29500"), tmp_path / "c.yaml", tmp_path / "run")
    assert {"--nnodes=4", "--node-rank=2", "--rdzv-backend=c10d", "--rdzv-endpoint=node0:29500"} <= set(multi)
    with pytest.raises(PhylawError, match="rdzv-endpoint"):
        torchrun_command(LaunchOptions(8, 4, 2, ""), tmp_path / "c.yaml", tmp_path / "run")


def test_worker_nodes_train_with_node_0s_config(tmp_path, monkeypatch):
    """Every node of a multi-node cell must resolve the same training config (VAE path and the shared latent
    cache next to it), or ranks on other nodes look for the latents where node 0 never wrote them."""
    import dataclasses

    from phylaw.experiments import stages
    from phylaw.experiments.runner import CellContext
    from phylaw.train import vae_trainer

    spec = make_plan().cells[0]
    spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, autoencoder="vae"))
    seen = {}
    monkeypatch.setattr(
        stages, "_torchrun_train", lambda ctx, cfg, launch, **k: seen.setdefault(launch.node_rank, cfg)
    )
    monkeypatch.setattr(vae_trainer, "train_vae", lambda *a, **k: None)
    data_root = tmp_path / "data"
    ctx = CellContext(spec, tmp_path / "cells" / spec.run_id, data_root / spec.train_data.data_id,
                      data_root / spec.eval_data.data_id)  # fmt: skip
    (vae := stages.vae_dir(ctx)).mkdir(parents=True)
    (vae / "vae.pt").write_bytes(b"")  # a finished VAE: node 0 does not train it again
    launch = LaunchOptions(2, 2, 0, "node0:29500")
    stages.train(dataclasses.replace(ctx, options={"launch": launch}))
    stages.train_on_worker_node(tmp_path, spec, dataclasses.replace(launch, node_rank=1))
    assert seen[0] == seen[1]
    assert seen[1]["data"]["cache_dir"] == str(vae)


def test_a_failing_rank_stops_the_others():
    import subprocess
    import sys
    import time

    from phylaw.train.launch import wait_interruptible

    start = time.monotonic()
    procs = [
        subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"]),
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]),
    ]
    codes = wait_interruptible(procs)
    assert codes[0] == 3
    assert codes[1] != 0  # terminated, not left waiting for its failed peer
    assert time.monotonic() - start < 30


def test_the_vae_trains_on_every_core_when_the_dit_ranks_use_one(tmp_path, monkeypatch):
    import dataclasses

    import phylaw.train
    from phylaw.experiments import stages
    from phylaw.experiments.runner import CellContext

    spec = make_plan().cells[0]
    spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, autoencoder="vae"))
    launch = LaunchOptions(2, 2, 0, "n0:1", runtime=(("runtime.threads", 1),))
    seen = {}
    monkeypatch.setattr(phylaw.train, "train_vae", lambda cfg, *a, **k: seen.setdefault("vae", cfg))
    monkeypatch.setattr(stages, "_torchrun_train", lambda *a, **k: None)
    data_root = tmp_path / "data"
    ctx = CellContext(spec, tmp_path / "cells" / spec.run_id, data_root / spec.train_data.data_id,
                      data_root / spec.eval_data.data_id, options={"launch": launch})  # fmt: skip
    stages.train(ctx)
    assert seen["vae"].runtime.threads == 0
    assert (
        stages.train_config(spec, tmp_path / "d.h5", launch.runtime).runtime.threads == 1
    )  # the DiT ranks keep theirs
    assert json.loads(ctx.path("runtime.json").read_text())["overrides"] == {"runtime.threads": 1}  # recorded


def test_a_shared_vae_trains_on_its_own_data_and_is_named_by_it(tmp_path, monkeypatch):
    """RunSpec.vae_data: the VAE's data is built once and the VAE trains on it, not on the cell's training
    set; its directory is named by that data, so two cells with different training sets share one VAE."""
    import dataclasses

    import phylaw.train
    from phylaw.experiments import stages
    from phylaw.experiments.runner import CellContext

    base = make_plan().cells[0]
    shared = dataclasses.replace(base.train_data, split="train", limit=7)
    built, seen = [], []

    def fake_build(ctx):
        built.append(ctx.spec)
        return {"path": str(ctx.data_dir / stages.DATA_FILE)}

    def fake_train_vae(cfg, run, **k):
        seen.append((cfg.data.train, Path(run)))
        (Path(run)).mkdir(parents=True, exist_ok=True)
        (Path(run) / "vae.pt").write_bytes(b"")

    monkeypatch.setattr(stages, "build_data", fake_build)
    monkeypatch.setattr(phylaw.train, "train_vae", fake_train_vae)
    monkeypatch.setattr(phylaw.train, "train_dit", lambda *a, **k: None)
    cells = []
    for limit in (3, 5):  # two training sets
        spec = dataclasses.replace(base, train_data=dataclasses.replace(base.train_data, limit=limit),
                                   train=dataclasses.replace(base.train, autoencoder="vae"), vae_data=shared)  # fmt: skip
        cells.append(spec)
        data_root = tmp_path / "data"
        ctx = CellContext(spec, tmp_path / "cells" / spec.run_id, data_root / spec.train_data.data_id,
                          data_root / spec.eval_data.data_id)  # fmt: skip
        stages.train(ctx)
    assert built == [shared]  # the VAE's data, built once
    assert len(seen) == 1  # one VAE for both cells
    assert seen[0][0] == str(tmp_path / "data" / shared.data_id / stages.DATA_FILE)
    assert seen[0][1] == stages.vae_dir_of(tmp_path, cells[0]) == stages.vae_dir_of(tmp_path, cells[1])
    assert seen[0][1].name.startswith(shared.data_id)
    own = dataclasses.replace(cells[0], vae_data=None)  # without it: the cell's own training data names it
    assert stages.vae_dir_of(tmp_path, own).name.startswith(own.train_data.data_id)
    assert own.run_id != cells[0].run_id
    assert "vae_data" not in str(identity(own))  # default-valued: older cells keep their ids


def test_a_data_spec_can_be_a_union_of_a_gapped_grid_and_an_attribute_labelled_grid():
    from phylaw.experiments.spec import DataSpec, GridPart
    from phylaw.experiments.stages import split_def

    gapped = GridPart((("r", 0.7, 1.5, 5), ("v", 1.0, 4.0, 7)), level="gap", box=(("v", 2.0, 3.0),))
    blue = GridPart(
        (("v", 1.0, 4.0, 3), ("r", 1.0, 1.0, 1)), level="blue", attributes=(("color", ("blue",)),)
    )
    spec = DataSpec("uniform_motion", "gap-train", resolution=32, parts=(gapped, blue))
    split = split_def(spec)
    v = np.linspace(1.0, 4.0, 7)
    assert len(split) == spec.size == 5 * int(((v < 2.0) | (v > 3.0)).sum()) + 3
    params = split.params()
    labels = split.labels()
    gap_v = params[np.asarray(labels.level) == "gap", 1]
    assert not ((gap_v >= 2.0) & (gap_v <= 3.0)).any()  # the gap is empty
    assert sorted(set(labels.level)) == ["blue", "gap"]
    assert np.allclose(params[np.asarray(labels.level) == "blue", 0], 1.0)  # named parts put in r, v order
    grid = DataSpec("uniform_motion", "g", resolution=32, grid=(("r", 0.7, 1.5, 2), ("v", 1.0, 4.0, 2)))
    with pytest.raises(PhylawError, match="a grid or parts, not both"):
        DataSpec("uniform_motion", "x", resolution=32, grid=grid.grid, parts=(blue,))


def test_vae_foreground_weight_reaches_the_config_and_names_its_own_vae():
    import dataclasses
    from pathlib import Path

    from phylaw.experiments import stages
    from phylaw.experiments.table2 import cell

    tiny = cell("tiny", "DiT-tiny", 6)
    plain = dataclasses.replace(tiny, train=dataclasses.replace(tiny.train, vae_foreground_weight=0.0,
                                                                 vae_train_frames=0, vae_factor=8))  # fmt: skip
    weighted = dataclasses.replace(plain, train=dataclasses.replace(plain.train, vae_foreground_weight=10.0))
    # the default keeps the VAE key (and so the directory names) it had before the option existed
    assert stages.vae_key(plain) == [8, plain.train.vae_base_channels, plain.train.vae_steps,
                                     plain.train.vae_batch_size, plain.train.vae_lr, plain.train.seed]  # fmt: skip
    assert stages.vae_key(weighted) != stages.vae_key(plain)
    assert train_config(plain, Path("d.h5")).autoencoder.foreground_weight == 0.0
    assert train_config(weighted, Path("d.h5")).autoencoder.foreground_weight == 10.0
    assert weighted.run_id != plain.run_id


def test_vae_train_frames_reach_the_vae_config_and_name_their_own_vae(tmp_path):
    import dataclasses
    from pathlib import Path

    from phylaw.config import apply_overrides
    from phylaw.experiments import stages
    from phylaw.experiments.table2 import cell

    tiny = cell("tiny", "DiT-tiny", 6)
    plain = dataclasses.replace(tiny, train=dataclasses.replace(tiny.train, vae_train_frames=0))
    two = dataclasses.replace(plain, train=dataclasses.replace(plain.train, vae_train_frames=2))
    vae_cfg = {
        k: apply_overrides(train_config(c, Path("d.h5")), stages.vae_train_overrides(c.train))
        for k, c in (("plain", plain), ("two", two))
    }
    assert vae_cfg["plain"].autoencoder.train_frames == 8  # 0: the config's default
    assert vae_cfg["two"].autoencoder.train_frames == 2
    assert stages.vae_key(two) == [*stages.vae_key(plain), ("train_frames", 2)]
    assert stages.vae_dir_of(tmp_path, two) != stages.vae_dir_of(tmp_path, plain)
    assert two.run_id != plain.run_id
