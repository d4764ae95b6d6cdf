"""Named DiT presets (the paper's Table 1 plus tiny CPU models) and ``build_dit``.

Parameter counts (4 latent channels, spatial patch 2, temporal patch 1, so (2·4+1)·2·2 = 36 input values per patch):
DiT-S 22.46M, DiT-B 89.45M, DiT-L 310.03M, DiT-XL 456.05M against the paper's 22.5 / 89.5 / 310.0 / 456.0M.
They match because timestep conditioning is adaLN-single (SPEC C.2): blocks are 12d² + 15d, plus one shared
Linear(d, 6d) and a 256 -> d -> d timestep MLP; per-block adaLN-Zero would give ≈ 32 / 128 / 455 / 671M.
"""

from __future__ import annotations

import dataclasses
import typing

import torch
from torch import nn

from phylaw.config import coerce
from phylaw.errors import PhylawError
from phylaw.models.dit import DiTConfig, VideoDiT

DIT_PRESETS: dict[str, DiTConfig] = {
    "DiT-S": DiTConfig(depth=12, hidden_size=384, num_heads=6),
    "DiT-B": DiTConfig(depth=12, hidden_size=768, num_heads=12),
    "DiT-L": DiTConfig(depth=24, hidden_size=1024, num_heads=16),
    "DiT-XL": DiTConfig(depth=28, hidden_size=1152, num_heads=16),
    # CPU presets (2 cores): tiny ~1.2M parameters, micro ~0.1M; small latent videos (pixel space or 4x AE)
    "DiT-tiny": DiTConfig(depth=6, hidden_size=128, num_heads=4, input_size=(16, 8, 8)),
    "DiT-micro": DiTConfig(depth=2, hidden_size=64, num_heads=2, input_size=(8, 8, 8)),
}

# Parameter counts reported in the paper (Table 1), for tests and `phylaw presets`.
PAPER_PARAMS: dict[str, float] = {"DiT-S": 22.5e6, "DiT-B": 89.5e6, "DiT-L": 310.0e6, "DiT-XL": 456.0e6}


def dit_config(preset: str, **overrides: object) -> DiTConfig:
    """The preset's config with ``overrides`` applied (field names of :class:`DiTConfig`), type-checked."""
    if preset not in DIT_PRESETS:
        raise PhylawError(f"unknown DiT preset {preset!r}; choose one of {', '.join(DIT_PRESETS)}")
    fields = {f.name for f in dataclasses.fields(DiTConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise PhylawError(f"unknown DiT config field {unknown[0]!r}; fields: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(DiTConfig)
    overrides = {key: coerce(value, hints[key], key) for key, value in overrides.items()}
    return dataclasses.replace(DIT_PRESETS[preset], **overrides)


def build_dit(
    preset: str, *, device: str | torch.device | None = None, seed: int = 0, **overrides: object
) -> VideoDiT:
    """Build a preset's :class:`VideoDiT`, weights initialised from ``seed`` (same seed -> same weights).

    ``device="meta"`` builds the structure without memory (for parameter counts of big presets).
    Unknown preset, unknown override field or wrongly typed value -> :class:`PhylawError`.
    """
    cfg = dit_config(preset, **overrides)
    with torch.device("meta"):  # no default init (and no global RNG use); weights set below
        model = VideoDiT(cfg)
    if device is not None and torch.device(device).type == "meta":
        return model
    model = model.to_empty(device="cpu")
    model.init_weights(torch.Generator(device="cpu").manual_seed(seed))
    return model if device is None else model.to(device)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (works on ``meta`` models)."""
    return sum(p.numel() for p in model.parameters())
