"""Atomic checkpoints: ``ckpt_{step:07d}.pt`` then ``meta_{step:07d}.json`` (the completion marker), keep last K.

Each file is written as ``<name>.partial`` and renamed, so a checkpoint with a meta file is always whole; the
resolved config is written as ``config.json`` beside them.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import torch

from phylaw.errors import PhylawError
from phylaw.io import atomic_path, write_text

_CKPT = re.compile(r"^meta_(\d{7})\.json$")


def ckpt_path(run_dir: Path, step: int) -> Path:
    return run_dir / f"ckpt_{step:07d}.pt"


def meta_path(run_dir: Path, step: int) -> Path:
    return run_dir / f"meta_{step:07d}.json"


def checkpoint_steps(run_dir: Path) -> list[int]:
    """Steps with a complete checkpoint (both files present), ascending."""
    if not run_dir.is_dir():
        return []
    steps = [int(m.group(1)) for p in run_dir.iterdir() if (m := _CKPT.match(p.name))]
    return sorted(s for s in steps if ckpt_path(run_dir, s).is_file())


def latest_step(run_dir: Path) -> int | None:
    steps = checkpoint_steps(run_dir)
    return steps[-1] if steps else None


def canonical(obj: Any) -> Any:
    """The same nested state with fresh dicts, lists and tuples and interned strings, so its pickle depends on the
    values alone: pickle writes a container or string seen before as a back-reference, and which objects a
    state shares depends on its history (a resumed optimizer holds loaded copies where an uninterrupted one
    holds the originals). With this, a resumed run's checkpoint has the same bytes as an uninterrupted one's."""
    if isinstance(obj, dict):
        return {canonical(k): canonical(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [canonical(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(canonical(v) for v in obj)
    if type(obj) is str:
        return sys.intern(obj)
    return obj


def save_checkpoint(
    run_dir: Path, step: int, state: dict[str, Any], meta: dict[str, Any], keep_last: int
) -> Path:
    """Write checkpoint + meta atomically, then delete all but the newest ``keep_last`` checkpoints."""
    path = ckpt_path(run_dir, step)
    with atomic_path(path) as tmp:
        torch.save(canonical(state), tmp)
    write_text(meta_path(run_dir, step), json.dumps({"step": step, **meta}, indent=2, sort_keys=True) + "\n")
    for old in checkpoint_steps(run_dir)[:-keep_last]:
        meta_path(run_dir, old).unlink(missing_ok=True)
        ckpt_path(run_dir, old).unlink(missing_ok=True)
    return path


def load_checkpoint(
    run_dir: Path, step: int | None = None, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """The state dict of checkpoint ``step`` (default: the latest complete one) of a run directory."""
    step = latest_step(run_dir) if step is None else step
    if step is None:
        raise PhylawError(f"no checkpoint in {run_dir} (expected ckpt_NNNNNNN.pt + meta_NNNNNNN.json)")
    path = ckpt_path(run_dir, step)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise PhylawError(f"cannot read checkpoint {path}: {str(exc).splitlines()[0]}") from exc


def read_meta(run_dir: Path, step: int) -> dict[str, Any]:
    return json.loads(meta_path(run_dir, step).read_text(encoding="utf-8"))
