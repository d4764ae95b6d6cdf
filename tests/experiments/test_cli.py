"""CLI of the experiments stage: one-line errors, --list-cells, demo overrides; the real demo runs are slow."""

from __future__ import annotations

import dataclasses
import json
import sys

import pytest

from phylaw.cli.main import main
from phylaw.errors import PhylawError
from phylaw.experiments import demo as demo_mod
from phylaw.experiments.demo import (
    DEMO,
    SMOKE,
    demo_config,
    demo_plan,
    run_demo,
    runtime_settings,
    train_spec,
)
from phylaw.experiments.registry import EXPERIMENTS, get_plan


def test_unknown_experiment_is_one_line_error(tmp_path, capsys):
    assert main(["reproduce", "table9", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    known = "fig3, fig5, fig6, fig7, fig8, fig9, table2, fig10, fig11"
    assert err == f"error: unknown experiment 'table9'; known: {known}"
    assert known == ", ".join(EXPERIMENTS)
    assert not any(tmp_path.iterdir())  # nothing written


def test_list_cells_prints_one_command_per_cell(tmp_path, capsys):
    assert main(["reproduce", "fig3", "--scale", "paper", "--out", str(tmp_path), "--list-cells"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    ids = [c.run_id for c in get_plan("fig3", "paper").cells]
    assert len(lines) == 28
    assert lines == [f"phylaw reproduce fig3 --scale paper --out {tmp_path} --cell {i}" for i in ids]


def test_demo_overrides_are_typed():
    cfg = demo_config(
        DEMO, ["steps=10", "lr=1", "model='DiT-micro'", "eval_per_split=[['id', 4], ['ood', 3]]"]
    )
    assert (cfg.steps, cfg.lr, cfg.model, cfg.eval_per_split) == (
        10,
        1.0,
        "DiT-micro",
        (("id", 4), ("ood", 3)),
    )
    with pytest.raises(PhylawError, match="unknown config key 'nosuchkey'"):
        demo_config(DEMO, ["nosuchkey=1"])
    with pytest.raises(PhylawError, match="must be int"):
        demo_config(DEMO, ["steps='many'"])
    # a bare word that YAML reads as a bool still sets a string field (README: --set cpu_bf16=off)
    assert demo_config(DEMO, ["cpu_bf16=off", "flip=true"]) == dataclasses.replace(
        DEMO, cpu_bf16="off", flip=True
    )


@pytest.mark.parametrize(("setting", "native", "bf16"), [
    ("off", True, False), ("on", False, True), ("auto", True, True), ("auto", False, False),
])  # fmt: skip
def test_demo_cpu_bf16_setting(monkeypatch, setting, native, bf16):
    monkeypatch.setattr(demo_mod, "cpu_has_native_bf16", lambda: native)
    cfg = demo_config(DEMO, [f"cpu_bf16='{setting}'"])
    assert (dict(runtime_settings(cfg)).get("runtime.precision") == "bf16") is bf16


def test_the_demo_id_does_not_depend_on_the_machine(monkeypatch):
    """Ranks and CPU bf16 are runtime settings (applied at launch, in runtime.json), not the cell's identity."""
    from pathlib import Path

    from phylaw.experiments.stages import train_config

    ids, precisions = set(), set()
    for cuda, native in ((False, True), (False, False), (True, False)):
        monkeypatch.setattr(demo_mod, "cpu_has_native_bf16", lambda native=native: native)
        monkeypatch.setattr("torch.cuda.is_available", lambda cuda=cuda: cuda)
        monkeypatch.setattr(demo_mod, "_device_words", lambda: "a machine")
        (cell,) = demo_plan(DEMO).cells
        ids.add(cell.run_id)
        cfg = train_config(cell, Path("d.h5"), demo_mod.launch_options(DEMO).runtime)
        precisions.add((cfg.runtime.precision, cfg.runtime.threads))
    assert len(ids) == 1
    assert precisions == {("bf16", 1), ("auto", 1), ("auto", 0)}  # but the machine's choices are applied


def test_demo_bad_cpu_bf16_setting_is_one_line_error():
    with pytest.raises(PhylawError, match="cpu_bf16 must be off, on or auto, got 'yes'"):
        demo_plan(demo_config(DEMO, ["cpu_bf16='yes'"]))


def test_run_demo_launches_with_the_machines_choices_under_one_id(tmp_path, monkeypatch, recorder):
    """run_demo hands this machine's choices (ranks, CPU bf16) to the train stage; the cell id stays the same."""
    from phylaw.experiments.runner import Pipeline, Stage

    seen = []

    def train(ctx):
        seen.append((ctx.spec.run_id, ctx.options["launch"].nproc_per_node, ctx.options["launch"].runtime))
        return recorder.stage("train")(ctx)

    fake = recorder.pipeline()
    pipeline = Pipeline(fake.data, (Stage("train", train), *fake.cell[1:]))
    monkeypatch.setattr(demo_mod, "train_procs", lambda cfg: 2)
    for native in (True, False):
        monkeypatch.setattr(demo_mod, "cpu_has_native_bf16", lambda native=native: native)
        assert not run_demo(tmp_path / str(native), SMOKE, progress=False, pipeline=pipeline).failed
    (cell,) = demo_plan(SMOKE).cells
    assert seen == [
        (cell.run_id, 2, (("runtime.threads", 1), ("runtime.precision", "bf16"))),
        (cell.run_id, 2, (("runtime.threads", 1),)),
    ]


def test_demo_timestep_sampling_reaches_the_training_config():
    extra = dict(train_spec(demo_config(DEMO, ["timesteps='logit_normal'", "logit_mean=0.5"])).overrides)
    assert extra["diffusion.timesteps"] == "logit_normal"
    assert extra["diffusion.logit_mean"] == 0.5
    assert "diffusion.timesteps" not in dict(train_spec(demo_config(DEMO, ["timesteps='uniform'"])).overrides)


def test_demo_plan_is_one_uniform_motion_cell():
    plan = demo_plan(DEMO)
    (cell,) = plan.cells
    assert cell.scenario == "uniform_motion"
    assert cell.data_size == DEMO.grid_r * DEMO.grid_v
    assert cell.train_data.resolution == cell.eval_data.resolution == DEMO.resolution
    assert demo_plan(SMOKE).cells[0].run_id != cell.run_id


def test_demo_refuses_an_out_dir_with_another_config(tmp_path):
    (tmp_path / "demo_config.json").write_text(json.dumps({"steps": 1}))
    with pytest.raises(PhylawError, match="another configuration"):
        run_demo(tmp_path, SMOKE, progress=False)


def test_smoke_demo_end_to_end_and_resume(tmp_path):
    """The real pipeline (testbed, training, sampling, evaluator, report) on the smoke configuration (~10 s)."""
    out = tmp_path / "demo"
    outcome = run_demo(out, SMOKE, progress=False)
    assert not outcome.failed, outcome
    page = (out / "report" / "report.html").read_text()
    assert "ID error [95% CI]" in page
    assert "data:image/gif;base64," in page
    results = (out / "results.csv").read_text()
    assert "velocity_error" in results
    assert "pooled" in results
    again = run_demo(out, SMOKE, progress=False)  # everything done: nothing reruns
    assert [c.state for c in again.cells] == ["skipped"]


@pytest.fixture(scope="module")
def full_demo(tmp_path_factory):
    """The shipped demo, run once (about 14 minutes on 2 cores): pooled velocity errors by split."""
    import pandas as pd

    out = tmp_path_factory.mktemp("full") / "demo"
    assert not run_demo(out, DEMO, progress=False).failed
    res = pd.read_csv(out / "results.csv")
    return res[(res["metric"] == "velocity_error") & (res["level"] == "pooled")].set_index("split")


@pytest.mark.slow
def test_full_demo_id_error_within_3x_the_floor(full_demo):
    assert full_demo.loc["id", "value"] <= 3 * full_demo.loc["id", "floor"]


def test_demo_with_two_training_processes_interrupts_and_resumes(tmp_path):
    """train_procs=2 starts two local ranks (gloo); SIGTERM to the demo checkpoints both, leaves no process
    behind and marks the cell interrupted (exit 130); the same command then resumes and finishes."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "demo"
    cmd = [sys.executable, "-m", "phylaw.cli.main", "demo", "--out", str(out), "--smoke", "--no-progress",
           "--set", "train_procs=2", "--set", "micro_batch_size=8", "--set", "steps=400"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(out.glob("cells/*/train/metrics.csv")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.count("interrupted: run the same command again") == 1  # the demo's line; ranks stay quiet
    (status,) = out.glob("cells/*/status.json")
    assert json.loads(status.read_text())["state"] == "interrupted"
    assert list(out.glob("cells/*/train/meta_*.json"))  # both ranks agreed on a checkpoint
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(status.read_text())["state"] == "done"
    assert "resumed" in done.stderr or "resuming" in done.stderr.lower()


def _rank_pids(run_dir, launcher: int) -> list[int]:
    """Live processes (not zombies) that train under ``run_dir``, other than the launcher."""
    from pathlib import Path

    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        mine = b"train" in argv and any(str(run_dir).encode() in a for a in argv)
        if mine and int(proc.name) != launcher and state != "Z":
            found.append(int(proc.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_demo_ranks_stop_when_the_demo_is_killed(tmp_path):
    """SIGKILL to the demo passes nothing on, yet its two local ranks hear of it from the kernel (SIGHUP),
    checkpoint and exit rather than train on alone; the same command then resumes and finishes."""
    import os
    import subprocess
    import time

    out = tmp_path / "demo"
    cmd = [sys.executable, "-m", "phylaw.cli.main", "demo", "--out", str(out), "--smoke", "--no-progress",
           "--set", "train_procs=2", "--set", "micro_batch_size=8", "--set", "steps=150"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.glob("cells/*/train/metrics.csv")) and time.monotonic() < deadline:
        time.sleep(0.2)
    ranks = _rank_pids(out / "cells", proc.pid)
    assert len(ranks) == 2
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 60
    while _rank_pids(out / "cells", proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _rank_pids(out / "cells", proc.pid)
    assert list(out.glob("cells/*/train/meta_*.json"))  # they checkpointed on the way out
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (status,) = out.glob("cells/*/status.json")
    assert json.loads(status.read_text())["state"] == "done"


def test_demo_presets_and_unknown_preset(tmp_path, capsys):
    from phylaw.experiments.demo import GPU128, PRESETS

    assert PRESETS == {"demo": DEMO, "smoke": SMOKE, "gpu128": GPU128}
    assert (GPU128.resolution, GPU128.vae_steps, GPU128.micro_batch_size) == (128, 800, 16)
    assert (GPU128.name, GPU128.steps) == (DEMO.name, DEMO.steps)  # only the pixels and the VAE budget differ
    import torch

    from phylaw.cli.experiments import _preset_hint

    _preset_hint("gpu128")
    hint = capsys.readouterr().out
    assert ("sized for one GPU" in hint) == (not torch.cuda.is_available())
    assert main(["demo", "--out", str(tmp_path / "d"), "--preset", "gpu256"]) == 2
    assert "unknown demo preset 'gpu256'" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_demo_deterministic_switch_reaches_the_training_config():
    import dataclasses

    assert ("runtime.deterministic", False) in train_spec(
        dataclasses.replace(DEMO, deterministic=False)
    ).overrides
    assert not any(k == "runtime.deterministic" for k, _ in train_spec(DEMO).overrides)
    assert demo_config(DEMO, ["deterministic=False"]).deterministic is False


def test_a_demo_dir_from_before_a_new_setting_is_still_this_demo():
    import dataclasses

    from phylaw.experiments.demo import config_json, same_demo_config

    saved = json.loads(json.dumps(config_json(DEMO)))
    assert same_demo_config(saved, DEMO)
    older = {k: v for k, v in saved.items() if k != "deterministic"}  # written before the setting existed
    assert same_demo_config(older, DEMO)
    assert not same_demo_config(older, dataclasses.replace(DEMO, deterministic=False))
    assert not same_demo_config({**saved, "steps": 1}, DEMO)
