"""Dataset files (docs/formats.md): generation at scale, lazy reading, a PyTorch Dataset, phyworld interop."""

from __future__ import annotations

from phylaw.datasets.build import generate, generate_ray
from phylaw.datasets.merge import merge
from phylaw.datasets.phyworld import convert
from phylaw.datasets.reader import DatasetLabels, PhylawDataset, open_dataset
from phylaw.datasets.store import DatasetConfig

__all__ = [
    "DatasetConfig",
    "DatasetLabels",
    "PhylawDataset",
    "VideoDataset",
    "convert",
    "generate",
    "generate_ray",
    "merge",
    "open_dataset",
]


def __getattr__(name: str) -> object:
    if name == "VideoDataset":  # lazy: importing torch is slow and not needed to read or write files
        from phylaw.datasets.torch_dataset import VideoDataset

        return VideoDataset
    raise AttributeError(name)
