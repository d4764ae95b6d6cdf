"""Which VideoVAE lets the attribute studies measure the DiT? The autoencoder's own attribute floor (issue 16).

An attribute cell's test videos condition on combinations (a blue disc, a red square) that its training set
never shows. A VideoVAE fitted to that training set alone may change them by itself (session 9: the
colour-shape cell's VAE turned every red square into a disc), and then the DiT's counts measure the VAE. This
benchmark trains the VAE once per setting, reconstructs each pair's evaluation videos through it (condition
frames pasted back, as the attributes stage does) and reads the reconstructions out like generated videos: the
share that keeps both attributes of the condition, per pair and role (id: trained combinations, ood: test
combinations), with Wilson 95 % intervals, plus training time. The first setting is the baseline: every row
prints its kept-both share and training time as ratios to it.

    python benchmarks/attr_vae_floor.py --out /tmp/attr_vae                 # own (per cell) vs shared attr-all
    python benchmarks/attr_vae_floor.py --out DIR --setting data=all,steps=400 --setting data=all,steps=1200,fw=10

A setting is comma-separated ``data`` (``own``: the pair's training split, one VAE per pair, the layout before
the shared VAE; ``all``: ``attr-all-<scale>``, every colour x shape, one VAE for every pair), ``steps``, ``fw``
(autoencoder.foreground_weight) and ``lr``; unset keys are the tiny attribute cells'. Everything lives under
``--out`` and is reused when the same setting runs again.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd

PAIRS = ("color-shape", "size-shape-bin", "velocity-shape-bin", "color-size-bin", "color-velocity-bin",
         "size-velocity-bin")  # fmt: skip


def parse_setting(text: str, base: dict) -> dict:
    keys = {"data": str, "steps": int, "fw": float, "lr": float}
    out = dict(base)
    for part in filter(None, text.split(",")):
        k, _, v = part.partition("=")
        if k not in keys:
            raise SystemExit(f"unknown setting key {k!r} in {text!r}; use {', '.join(keys)}")
        out[k] = keys[k](v)
    if out["data"] not in ("own", "all"):
        raise SystemExit(f"data must be 'own' or 'all', got {out['data']!r}")
    return out


def cell_of(pair: str, scale: str, setting: dict):
    """The pair's attribute cell with the setting's VAE (shared attr-all data, or its own training data)."""
    from phylaw.experiments import attribute_study as a

    spec = a.attribute_cell("bench", scale, pair)
    train = dataclasses.replace(spec.train, vae_steps=setting["steps"], vae_foreground_weight=setting["fw"],
                                vae_lr=setting["lr"])  # fmt: skip
    vae_data = a.shared_vae_data(spec) if setting["data"] == "all" else None
    return dataclasses.replace(spec, train=train, vae_data=vae_data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--scale", default="tiny")
    ap.add_argument("--setting", action="append", default=[], help="e.g. data=all,steps=1200 (repeatable)")
    ap.add_argument("--pairs", default=",".join(PAIRS), help="comma-separated attribute settings")
    args = ap.parse_args()

    from phylaw.config import apply_overrides
    from phylaw.datasets import open_dataset
    from phylaw.evaluate.attributes import decisions, observe_attributes, outcomes
    from phylaw.evaluate.outcome import wilson_ci
    from phylaw.experiments import stages as st
    from phylaw.experiments.attribute_study import setting_of
    from phylaw.experiments.runner import Stage, ensure_data
    from phylaw.train import train_vae

    pairs = [p for p in args.pairs.split(",") if p]
    from phylaw.experiments import attribute_study as a

    t = a.attribute_cell("bench", args.scale, pairs[0]).train  # the scale's attribute-cell VAE settings
    base = {"data": "all", "steps": t.vae_steps, "fw": t.vae_foreground_weight, "lr": t.vae_lr}
    settings = [parse_setting(s, base) for s in (args.setting or ["data=own,steps=400,fw=0", "data=all"])]
    data_stage = Stage("data", st.build_data)
    out = args.out

    def data_dir(spec):
        return ensure_data(out, spec, data_stage, progress=True, options={}) / st.DATA_FILE

    rows = []
    for k, setting in enumerate(settings):
        name = ",".join(f"{key}={setting[key]}" for key in ("data", "steps", "fw", "lr"))
        seconds = 0.0
        for pair in pairs:
            cell = cell_of(pair, args.scale, setting)
            run = st.vae_dir_of(out, cell)
            timer = run / "train_seconds.txt"
            if not (run / "vae.pt").is_file():
                t0 = time.perf_counter()
                cfg = st.train_config(cell, data_dir(st.vae_data(cell)))
                train_vae(apply_overrides(cfg, st.vae_train_overrides(cell.train)), run, resume=True,
                          progress=True)  # fmt: skip
                timer.write_text(f"{time.perf_counter() - t0:.1f}\n")
            if setting["data"] == "own" or pair == pairs[0]:  # a shared VAE's time counts once
                seconds += float(timer.read_text()) if timer.exists() else np.nan
            evald = data_dir(cell.eval_data)
            with open_dataset(evald) as ds:
                index = np.arange(len(ds))
            c = st.train_config(cell, evald).data.cond_frames
            recon = st.reconstruct(run, evald, index, run / f"recon-{pair}.h5", n_frames=cell.eval_data.n_frames,
                                   resolution=cell.eval_data.resolution, cond_frames=c, progress=True)  # fmt: skip
            videos = observe_attributes(evald, recon)
            attr = setting_of(cell)
            got = outcomes(decisions(videos, attr, "gen"), attr)
            for role in ("id", "ood"):
                m = (videos["split"] == role).to_numpy()
                n, kept = int(m.sum()), int((got[m] == "kept_both").sum())
                _, lo, hi = wilson_ci(kept, n)
                rows.append({"setting": name, "pair": pair, "role": role, "n": n, "kept_both": kept,
                             "share": kept / n if n else np.nan, "ci": f"[{lo:.2f}, {hi:.2f}]",
                             "lost": int((got[m] == "lost").sum()), "k": k})  # fmt: skip
        for r in rows:
            if r["k"] == k:
                r["train_s"] = seconds

    table = pd.DataFrame(rows)
    base_rows = table[table["k"] == 0].set_index(["pair", "role"])
    key = list(zip(table["pair"], table["role"], strict=True))
    table["share_vs_base"] = table["share"].to_numpy() / base_rows.loc[key, "share"].to_numpy()
    table["time_vs_base"] = table["train_s"] / float(base_rows["train_s"].iloc[0])
    table = table.drop(columns="k")
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "attr_vae_floor.csv", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
