"""Which VideoVAE is good enough for Table 2? The reconstruction floor of the abnormal ratio (issue 14).

Trains the Table 2 shared VAE of a scale (on the 60-template training frames) once per setting, reconstructs the
60-template cell's evaluation videos through each (the condition frame pasted back, as the ``recon`` stage does)
and scores the reconstructions with the ``phyre`` metric set: the judge's abnormal ratio (Wilson 95 %) beside
the judge on untouched ground truth, the Type 1 share (final states agree), SSIM and PSNR; plus training time.
The first setting is the baseline; each row prints its abnormal ratio and wall time as ratios to it.

    python benchmarks/vae_recon.py --out /tmp/vae_recon                     # tiny: plain loss vs foreground x10
    python benchmarks/vae_recon.py --out DIR --setting fw=0 --setting fw=10,base=32 --steps 1200

A setting is comma-separated ``fw`` (autoencoder.foreground_weight), ``base`` (base channels), ``factor`` (4 or
8), ``steps``, ``lr``, ``batch`` (videos per step) and ``frames`` (random frames of each video per step,
autoencoder.train_frames; the VAE is frame-wise, so batch=16,frames=2 costs what batch=4,frames=8 does and shows
four times as many scenes). Every output (data, VAEs, reconstructions, evaluations) lives under ``--out`` and is reused
when the same setting runs again; a VAE trained here is the one ``phylaw reproduce table2 --out`` the same folder
uses when the setting is its scale's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd


def parse_setting(text: str, base: dict) -> dict:
    keys = {"fw": float, "base": int, "factor": int, "steps": int, "lr": float, "batch": int, "frames": int}
    out = dict(base)
    for part in filter(None, text.split(",")):
        k, _, v = part.partition("=")
        if k not in keys:
            raise SystemExit(f"unknown setting key {k!r} in {text!r}; use {', '.join(keys)}")
        out[k] = keys[k](v)
    return out


def summary_mean(summary: pd.DataFrame, metric: str, split: str) -> float:
    m = summary[(summary["metric"] == metric) & (summary["split"] == split)]
    return float(m["mean"].iloc[0]) if len(m) else np.nan


def recon_strip(data: Path, recon: Path, dest: Path, title: str, videos: int = 3, frames: int = 4) -> Path:
    """PNG: for the first ``videos`` reconstructed rows of each split, ground truth above the reconstruction at
    ``frames`` evenly spaced frames (nearest-neighbour x2), so bodies that fatten, fade or vanish are seen."""
    from PIL import Image, ImageDraw

    from phylaw.datasets import open_dataset
    from phylaw.datasets.samples import open_samples

    with open_dataset(data) as ds, open_samples(recon) as rs:
        split = np.asarray(ds.labels.split)[rs.index]
        rows = [r for label in sorted(set(split)) for r in np.flatnonzero(split == label)[:videos]]
        pairs = []
        for r in rows:
            rec = rs.frames(r)
            gt = ds.frames(int(rs.index[r]), rec.shape[1])[: len(rec)]
            ts = np.linspace(0, len(rec) - 1, frames).round().astype(int)
            pairs.append((f"{split[r]} row {int(rs.index[r])}", np.concatenate(list(gt[ts]), 1),
                          np.concatenate(list(rec[ts]), 1)))  # fmt: skip
    h, w = pairs[0][1].shape[:2]
    z, head = 2, 14
    canvas = Image.new("RGB", (w * z, head + len(pairs) * (2 * h * z + head)), (235, 235, 235))
    draw = ImageDraw.Draw(canvas)
    draw.text((2, 1), f"{title}: ground truth (upper) | reconstruction (lower), frames evenly spaced", fill=0)
    y = head
    for label, gt, rec in pairs:
        draw.text((2, y + 1), label, fill=(0, 0, 0))
        y += head
        for img in (gt, rec):
            canvas.paste(Image.fromarray(img).resize((w * z, h * z), Image.NEAREST), (0, y))
            y += h * z
    dest.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(dest)
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--scale", default="tiny")
    ap.add_argument("--setting", action="append", default=[], help="e.g. fw=10,base=32 (repeatable)")
    ap.add_argument(
        "--steps", type=int, default=None, help="VAE steps of every setting (default: the scale's)"
    )
    ap.add_argument(
        "--videos", type=int, default=0, help="evaluate only the first N evaluation rows (0: all)"
    )
    args = ap.parse_args()

    from phylaw.config import TrainConfig, apply_overrides
    from phylaw.datasets import open_dataset
    from phylaw.evaluate.run import EvalOptions, evaluate
    from phylaw.experiments import stages as st
    from phylaw.experiments import table2 as t2
    from phylaw.experiments import table2_stages as st2
    from phylaw.experiments.runner import Stage, ensure_data
    from phylaw.train import train_vae

    s = t2.settings(args.scale)
    spec = t2.cell(args.scale, s.models[-1][0], 60)
    base = {"fw": s.vae_foreground_weight, "base": s.vae_base_channels, "factor": s.vae_factor,
            "steps": args.steps or s.vae_steps, "lr": s.vae_lr, "batch": s.vae_batch_size,
            "frames": s.vae_train_frames or TrainConfig().autoencoder.train_frames}  # fmt: skip
    settings = [parse_setting(t, base) for t in (args.setting or ["fw=0", "fw=10"])]
    default_frames = TrainConfig().autoencoder.train_frames
    out = args.out
    data_stage = Stage("data", st.build_data)
    train_dir = ensure_data(out, spec.vae_data, data_stage, progress=True, options={})
    eval_dir = ensure_data(out, spec.eval_data, data_stage, progress=True, options={})
    with open_dataset(eval_dir / st.DATA_FILE) as ds:
        index = st2.even_indices(np.asarray(ds.params), np.asarray(ds.labels.split), spec.eval_data.per_split)
    index = index[: args.videos] if args.videos else index

    rows = []
    for k, setting in enumerate(settings):
        train = dataclasses.replace(spec.train, vae_foreground_weight=setting["fw"],
                                    vae_base_channels=setting["base"], vae_factor=setting["factor"],
                                    vae_steps=setting["steps"], vae_lr=setting["lr"],
                                    vae_batch_size=setting["batch"],
                                    vae_train_frames=0 if setting["frames"] == default_frames else setting["frames"])  # fmt: skip
        cell = dataclasses.replace(spec, train=train)
        name = ",".join(f"{key}={setting[key]}" for key in ("fw", "base", "factor", "steps", "lr", "batch", "frames"))
        run = st.vae_dir_of(out, cell)  # the directory a Table 2 run in the same OUT trains its VAE in
        t0 = time.perf_counter()
        if not (run / "vae.pt").is_file():
            cfg = st.train_config(cell, train_dir / st.DATA_FILE)
            train_vae(apply_overrides(cfg, st.vae_train_overrides(train)), run, resume=True, progress=True)
            (run / "train_seconds.txt").write_text(f"{time.perf_counter() - t0:.1f}\n")
        seconds = (
            float((run / "train_seconds.txt").read_text()) if (run / "train_seconds.txt").exists() else np.nan
        )
        recon = st.reconstruct(run, eval_dir / st.DATA_FILE, index, run / f"recon-{len(index)}.h5",
                                n_frames=spec.eval_data.n_frames, resolution=spec.eval_data.resolution,
                                progress=True)  # fmt: skip
        strip = recon_strip(eval_dir / st.DATA_FILE, recon, run / f"recon_strip-{len(index)}.png", name)
        print(f"{name}: ground truth | reconstruction strip: {strip}")
        result = evaluate(eval_dir / st.DATA_FILE, recon, out=run / f"recon_eval-{len(index)}",
                          options=EvalOptions(metric_set="phyre"), progress=True)  # fmt: skip
        metrics = pd.read_csv(result.metrics_csv, dtype={"split": str, "level": str, "detail": str})
        shares = st2.share_rows(metrics, cell).set_index(["split", "metric"])
        summary = result.summary
        for split in sorted(shares.index.get_level_values(0).unique()):
            ab, t1 = shares.loc[(split, "abnormal_ratio")], shares.loc[(split, "type1_share")]

            rows.append({"setting": name, "split": split, "n": int(ab["n"]), "abnormal": ab["value"],
                         "abnormal_ci": f"[{ab['ci_low']:.2f}, {ab['ci_high']:.2f}]", "gt_floor": ab["floor"],
                         "type1": t1["value"], "ssim": summary_mean(summary, "ssim", split), "psnr": summary_mean(summary, "psnr", split),
                         "train_s": seconds, "k": k})  # fmt: skip
        reasons = metrics[(metrics["metric"] == "abnormal") & (metrics["value"] >= 1)]["detail"].fillna("")
        top = pd.Series([r.strip().split(":")[0] for d in reasons for r in d.split(";") if r.strip()])
        top = top.value_counts().head(5)
        print(
            f"{name}: most frequent judge reasons on the reconstructions: { {k: int(v) for k, v in top.items()} }"
        )

    table = pd.DataFrame(rows)
    baseline = table[table["k"] == 0].set_index("split")
    table["abnormal_vs_base"] = table["abnormal"] / table["split"].map(baseline["abnormal"])
    table["time_vs_base"] = table["train_s"] / float(baseline["train_s"].iloc[0])
    table = table.drop(columns="k")
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "vae_recon.csv", index=False)
    (out / "vae_recon.json").write_text(json.dumps({"index": index.tolist()}))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
