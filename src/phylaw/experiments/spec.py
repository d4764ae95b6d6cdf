"""Run specifications: what one dataset and one grid cell of an experiment are, and their stable ids.

A ``DataSpec`` names one dataset file (a testbed split, optionally a custom grid or a subset); a ``RunSpec`` is
one cell of an experiment (its factor values: scenario, model, training data, ...) together with its training,
sampling and evaluation settings. Both are frozen dataclasses; their ids are a readable prefix plus a short
content hash of the fields that differ from their defaults (:func:`identity`), so two specs share a directory
exactly when they are the same job, and a field added later with a default renames no finished cell. Nothing in
an id depends on the machine: ranks and CPU bf16 are launch settings (``phylaw.train.launch.LaunchOptions``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import MISSING, asdict, dataclass, field
from typing import Any

SCALES = ("tiny", "small", "paper")


def _content_hash(obj: Any, n: int = 8) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()[:n]


def _default(f: dataclasses.Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def identity(obj: Any) -> Any:
    """What a spec's id hashes: its fields that differ from their defaults (required fields always), nested
    specs likewise, tuples as lists; fields with ``compare=False`` (notes) are left out."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.compare and not (_default(f) is not MISSING and value == _default(f)):
                out[f.name] = identity(value)
        return out
    if isinstance(obj, tuple | list):
        return [identity(v) for v in obj]
    return obj


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "", text)


def size_label(n: int) -> str:
    """30000 -> '30K', 3000000 -> '3M', 250 -> '250' (the paper's notation for data sizes)."""
    for div, suffix in ((1_000_000, "M"), (1_000, "K")):
        if n >= div and n % (div // 10) == 0:
            value = n / div
            return f"{value:g}{suffix}"
    return str(n)


@dataclass(frozen=True)
class GridPart:
    """One part of a union dataset: a product grid ((param, lo, hi, n), ...) without the points in ``box``
    ((param, lo, hi), ...: a gap on one axis, a hole on several), its rows labelled ``split`` / ``level`` and
    given ``attributes`` (appearance per object slot, ``(("color", ("blue",)),)``; ``phylaw.sim.splits.Part``)."""

    grid: tuple[tuple[str, float, float, int], ...]
    split: str = "train"
    level: str = "train"
    box: tuple[tuple[str, float, float], ...] = ()
    attributes: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    @property
    def size(self) -> int:
        import numpy as np

        axes = {name: np.linspace(lo, hi, int(n)) for name, lo, hi, n in self.grid}
        total = int(np.prod([len(v) for v in axes.values()]))
        box = {name: (lo, hi) for name, lo, hi in self.box}
        inside = [
            int(((v >= box[k][0]) & (v <= box[k][1])).sum()) if k in box else len(v) for k, v in axes.items()
        ]
        return total - int(np.prod(inside)) if box else total


@dataclass(frozen=True)
class DataSpec:
    """One dataset file.

    split:   a named testbed split ("train-30k", "eval", ...) or a custom grid name when ``grid`` is given.
    grid:    custom grid as ((param, lo, hi, n), ...); each param takes ``np.linspace(lo, hi, n)`` values and
             the product is enumerated (``phylaw.sim.grid_split``).
    parts:   a union of grids, gapped or holed grids and attribute-labelled sets (:class:`GridPart`), instead
             of ``grid`` (``phylaw.sim.union_split``).
    limit:   keep only this many videos (the first ones of the split), None = all.
    per_split: for evaluation splits, keep at most this many videos per split label ("id", "ood"), spread
             evenly over its levels, as ((label, count), ...); () = all.
    """

    scenario: str
    split: str
    resolution: int
    n_frames: int = 32
    ranges: str = "paper"
    grid: tuple[tuple[str, float, float, int], ...] = ()
    limit: int | None = None
    per_split: tuple[tuple[str, int], ...] = ()
    seed: int = 0
    procedural: bool = False
    parts: tuple[GridPart, ...] = ()

    def __post_init__(self) -> None:
        if self.grid and self.parts:
            from phylaw.errors import PhylawError

            raise PhylawError(f"data spec {self.split!r}: give a grid or parts, not both")

    @property
    def data_id(self) -> str:
        label = f"{self.scenario}-{_slug(self.split)}-{self.resolution}px"
        return f"{label}-{_content_hash(identity(self))}"

    @property
    def size(self) -> int | None:
        """Number of videos when known from the spec alone (custom grids and limits), else None."""
        n = None
        if self.grid:
            n = 1
            for _, _, _, k in self.grid:
                n *= int(k)
        if self.parts:
            n = sum(p.size for p in self.parts)
        if self.limit is not None:
            n = self.limit if n is None else min(n, self.limit)
        return n


@dataclass(frozen=True)
class TrainSpec:
    """Training settings of a cell: typed overrides of a ``phylaw.config`` preset (``stages.cell_overrides``)."""

    model: str  # DiT preset name, e.g. "DiT-S" or a tiny preset
    steps: int
    batch_size: int
    lr: float = 1e-4
    warmup: int = 0
    autoencoder: str = (
        "identity"  # "identity" (pixel space), "vae" (phylaw VAE trained per scenario) or a path
    )
    space_to_depth: int = 1  # identity autoencoder: fixed pixel-unshuffle factor
    patch: int | None = None  # spatial patch override; None = preset default
    temporal_patch: int | None = None
    ema_decay: float | None = None
    flip: bool = True
    preset: str = "cpu-tiny"  # phylaw.config base preset the overrides apply to
    overrides: tuple[tuple[str, Any], ...] = ()  # further typed config overrides: (("optim.lr", 1e-3), ...)
    # autoencoder == "vae": phylaw's VideoVAE, trained first on the cell's training data (shared when equal)
    vae_factor: int = 8
    vae_base_channels: int = 32
    vae_steps: int = 20_000
    vae_batch_size: int = 32
    vae_lr: float = 3e-4
    vae_foreground_weight: float = 0.0  # autoencoder.foreground_weight of the VAE's training (0: plain loss)
    vae_train_frames: int = 0  # autoencoder.train_frames: frames of each video per VAE step (0: the config's)
    seed: int = 0


@dataclass(frozen=True)
class RunSpec:
    """One cell of an experiment.

    factors: the cell's factor values as result columns, (("scenario", ...), ("model", ...), ...); () = the
    Fig. 3 factors scenario, model and data_size (:attr:`factor_values`)."""

    experiment: str
    scale: str
    scenario: str
    data_size: int  # nominal number of training videos (the x axis of Fig. 3)
    train_data: DataSpec
    eval_data: DataSpec
    train: TrainSpec
    sample_steps: int = 50
    sample_batch_size: int = 16
    seed: int = 0
    distributed: bool = False  # launch training under torchrun (paper scale)
    factors: tuple[tuple[str, Any], ...] = ()
    # autoencoder "vae": the frames its VideoVAE trains on when not the cell's training data (a frozen autoencoder
    # shared by every cell of a scale, as the paper's pretrained VAE never saw the cells' restricted sets); None:
    # the cell's own training data. Default-valued, so cells without it keep their ids.
    vae_data: DataSpec | None = None
    notes: str = field(default="", compare=False)

    @property
    def model(self) -> str:
        return self.train.model

    @property
    def data_label(self) -> str:
        return size_label(self.data_size)

    @property
    def factor_values(self) -> dict[str, Any]:
        """The cell's factors by name (the columns that identify it in results.csv)."""
        if self.factors:
            return dict(self.factors)
        return {"scenario": self.scenario, "model": self.model, "data_size": self.data_size}

    @property
    def run_id(self) -> str:
        """Readable id + short content hash of :func:`identity`, e.g. ``uniform_motion-DiTS-30K-1a2b3c4d``."""
        return f"{self.scenario}-{_slug(self.model)}-{self.data_label}-{_content_hash(identity(self))}"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["run_id"] = self.run_id
        out["train_data"]["data_id"] = self.train_data.data_id
        out["eval_data"]["data_id"] = self.eval_data.data_id
        if self.vae_data is not None:
            out["vae_data"]["data_id"] = self.vae_data.data_id
        return out
