"""``phylaw migrate DIR``: a demo or reproduction directory written before run ids hashed only non-defaults.

Until issue 11, a cell's id hashed every field of its spec, including the machine's choices (one thread per CPU
rank, bf16 on a CPU with native bf16). Migration takes the directory's current plan (from ``demo_config.json``
or ``plan.json``), computes each cell's old id with a frozen copy of that formula (trying each machine choice),
and renames ``cells/<old>`` to ``cells/<new>``, ``data/<old>`` and ``vae/<old>`` likewise (these two leave a
symlink at the old name: checkpoints record absolute paths to them), then rewrites ``cell.json``, ``cell_results.csv``,
``plan.json`` and the gathered results. The cell's machine choices go to its ``runtime.json``. Running it again
changes nothing.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from phylaw.errors import PhylawError
from phylaw.experiments.experiment import CELL_RESULTS, ExperimentPlan, write_summary
from phylaw.experiments.spec import DataSpec, RunSpec, _content_hash, _slug
from phylaw.io import read_json, write_csv, write_json

log = logging.getLogger(__name__)

# the machine's choices that old ids contained (demo: 2 CPU ranks -> one thread each; native CPU bf16)
LEGACY_MACHINE = (("runtime.threads", 1), ("runtime.precision", "bf16"))
_LEGACY_DATA_FIELDS = ("scenario", "split", "resolution", "n_frames", "ranges", "grid", "limit", "per_split", "seed",
                       "procedural")  # fmt: skip
_LEGACY_TRAIN_FIELDS = ("model", "steps", "batch_size", "lr", "warmup", "autoencoder", "space_to_depth", "patch",
                        "temporal_patch", "ema_decay", "flip", "preset", "vae_factor", "vae_base_channels", "vae_steps",
                        "vae_batch_size", "vae_lr", "seed")  # fmt: skip


def _plain(x: Any) -> Any:
    return [_plain(v) for v in x] if isinstance(x, tuple | list) else x


def legacy_data_id(spec: DataSpec) -> str:
    """The id phylaw gave ``spec`` before issue 11 (every field hashed)."""
    body = {f: _plain(getattr(spec, f)) for f in _LEGACY_DATA_FIELDS}
    return f"{spec.scenario}-{_slug(spec.split)}-{spec.resolution}px-{_content_hash(body)}"


def _legacy_extra(overrides: tuple[tuple[str, Any], ...], machine: tuple[tuple[str, Any], ...]) -> list:
    """The old ``TrainSpec.extra``: the demo put the machine's choices right after the micro-batch size."""
    items = list(overrides)
    at = 1 if items and items[0][0] == "optim.micro_batch_size" else 0
    return _plain([*items[:at], *machine, *items[at:]])


def legacy_run_id(spec: RunSpec, machine: tuple[tuple[str, Any], ...] = ()) -> str:
    """The id phylaw gave ``spec`` before issue 11, on a machine whose choices were ``machine``."""
    train = {f: _plain(getattr(spec.train, f)) for f in _LEGACY_TRAIN_FIELDS}
    train["extra"] = _legacy_extra(spec.train.overrides, machine)
    body = {
        "experiment": spec.experiment, "scale": spec.scale, "scenario": spec.scenario, "data_size": spec.data_size,
        "train_data": {f: _plain(getattr(spec.train_data, f)) for f in _LEGACY_DATA_FIELDS},
        "eval_data": {f: _plain(getattr(spec.eval_data, f)) for f in _LEGACY_DATA_FIELDS}, "train": train,
        "sample_steps": spec.sample_steps, "sample_batch_size": spec.sample_batch_size, "seed": spec.seed,
        "distributed": spec.distributed,
    }  # fmt: skip
    return f"{spec.scenario}-{_slug(spec.model)}-{spec.data_label}-{_content_hash(body)}"


def legacy_candidates(spec: RunSpec) -> list[tuple[str, tuple[tuple[str, Any], ...]]]:
    """(old id, machine choices) for every combination of the machine choices old ids could contain."""
    combos = [c for k in range(len(LEGACY_MACHINE) + 1) for c in itertools.combinations(LEGACY_MACHINE, k)]
    return [(legacy_run_id(spec, machine), machine) for machine in combos]


@dataclass(frozen=True)
class Migration:
    cells: tuple[tuple[str, str], ...]  # (old id, new id) renamed
    data: tuple[tuple[str, str], ...]
    vaes: tuple[tuple[str, str], ...]


def _move(root: Path, old: str, new: str, *, link: bool = True) -> bool:
    """``root/old`` -> ``root/new`` (``link``: a symlink left at ``root/old``); False when there is nothing to
    move."""
    src, dst = root / old, root / new
    if old == new or not src.is_dir() or src.is_symlink() or dst.exists():
        return False
    src.rename(dst)
    if link:
        src.symlink_to(new)
    return True


def _relabel_results(cell_dir: Path, new_id: str) -> None:
    path = cell_dir / CELL_RESULTS
    if path.is_file():
        df = pd.read_csv(path, dtype={"split": str, "level": str})
        df["run_id"] = new_id
        write_csv(path, df)


def _relabel_data(data_dir: Path, new_id: str) -> None:
    path = data_dir / "data_spec.json"
    if path.is_file():
        write_json(path, {**read_json(path), "data_id": new_id})


def migrate(out: Path, plan: ExperimentPlan) -> Migration:
    """Rename the old-id cells, datasets and VAEs of ``plan`` in ``out`` to their current ids (idempotent)."""
    from phylaw.experiments.stages import vae_key

    out = Path(out)
    cells, data, vaes = [], [], []
    for spec in plan.cells:
        for old, machine in legacy_candidates(spec):
            if _move(out / "cells", old, spec.run_id, link=False):  # the report reads every cells/* entry
                cells.append((old, spec.run_id))
                write_json(out / "cells" / spec.run_id / "cell.json", spec.to_json())
                _relabel_results(out / "cells" / spec.run_id, spec.run_id)
                write_json(out / "cells" / spec.run_id / "runtime.json",
                           {"overrides": dict(machine), "migrated_from": old})  # fmt: skip
                break
        for d in (spec.train_data, spec.eval_data):
            if _move(out / "data", legacy_data_id(d), d.data_id):
                data.append((legacy_data_id(d), d.data_id))
                _relabel_data(out / "data" / d.data_id, d.data_id)
        key = _content_hash(vae_key(spec))
        old_vae, new_vae = f"{legacy_data_id(spec.train_data)}-{key}", f"{spec.train_data.data_id}-{key}"
        if _move(out / "vae", old_vae, new_vae):
            vaes.append((old_vae, new_vae))
    if cells or data or vaes:
        write_json(out / "plan.json", plan.to_json())
        write_summary(plan, out)
    return Migration(tuple(cells), tuple(data), tuple(vaes))


def check_not_legacy(out: Path, plan: ExperimentPlan) -> None:
    """One-line PhylawError when ``out`` holds a cell of ``plan`` under its old id only (it would silently be
    run again under the new one)."""
    cells = Path(out) / "cells"
    if not cells.is_dir():
        return
    for spec in plan.cells:
        if not (cells / spec.run_id).exists() and any(
            (cells / old).is_dir() for old, _ in legacy_candidates(spec)
        ):
            raise PhylawError(
                f"{out} holds cells under the ids of an older phylaw; run `phylaw migrate {out}` first "
                "(docs/experiments.md)"
            )


def plan_of(out: Path, overrides: list[str]) -> ExperimentPlan:
    """The current plan of a demo or reproduction directory (``--set``: the reproduction's training overrides)."""
    out = Path(out)
    if (out / "demo_config.json").is_file():
        if overrides:
            raise PhylawError(
                f"{out} is a demo directory: its settings come from demo_config.json, not --set"
            )
        from phylaw.experiments.demo import demo_plan, saved_config

        return demo_plan(saved_config(read_json(out / "demo_config.json")))
    if (out / "plan.json").is_file():
        from phylaw.experiments.registry import get_plan, with_train_overrides

        saved = read_json(out / "plan.json")
        return with_train_overrides(
            get_plan(str(saved.get("experiment")), str(saved.get("scale"))), overrides
        )
    raise PhylawError(
        f"{out} is not a phylaw demo or reproduction directory (no demo_config.json or plan.json)"
    )
