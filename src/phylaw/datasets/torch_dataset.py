"""``VideoDataset``: a PyTorch Dataset over a phylaw dataset file (or shard set) → (frames, states, labels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from phylaw.datasets.reader import PhylawDataset, open_dataset
from phylaw.errors import PhylawError


class VideoDataset(torch.utils.data.Dataset):
    """Item j = video ``indices[j]``: ``(frames, states, labels)``.

    frames: uint8 tensor (T, H, W, 3) at ``resolution`` (default: the file's; another resolution is rendered
    from the states, exactly). states: dict of tensors, every ``States`` field of the video (position (T, K, 2),
    velocity, angle (T, K), in_view (T, K), present (K,), radius (K,), ..., event_time (E,), ...) and
    contact_time (), contact_frame (). labels: dict with ``split``,
    ``level`` (str) and ``index`` (int). ``n_frames`` keeps the first n frames (frames and per-frame states).
    h5py files are opened lazily in each DataLoader worker.
    """

    def __init__(
        self,
        path: str | Path | list[str | Path] | PhylawDataset,
        resolution: int | None = None,
        indices: np.ndarray | list[int] | None = None,
        n_frames: int | None = None,
    ) -> None:
        self.data = path if isinstance(path, PhylawDataset) else open_dataset(path)
        self.data.close()  # handles are reopened on first access, in whichever process that is
        n = len(self.data)
        self.indices = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= n):
            raise PhylawError(f"indices must lie in 0..{n - 1}")
        self.resolution = self.data.resolution if resolution is None else int(resolution)
        if self.resolution < 8:
            raise PhylawError(f"resolution must be >= 8 pixels, got {self.resolution}")
        t = self.data.n_frames
        self.n_frames = t if n_frames is None else int(n_frames)
        if not 1 <= self.n_frames <= t:
            raise PhylawError(f"n_frames must be in 1..{t}, got {n_frames}")

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, j: int) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, object]]:
        i = int(self.indices[j])
        t = self.n_frames
        frames = torch.from_numpy(
            np.ascontiguousarray(self.data.frames(i, self.resolution)[:t])
        )  # (T, H, W, 3)
        raw = self.data.states(i)
        states = {}
        for name, value in raw.items():
            if name in ("position", "velocity", "angle", "in_view"):
                value = value[:t]
            states[name] = torch.from_numpy(np.ascontiguousarray(value))
        lab = self.data.labels_slice(i, i + 1)
        labels = {"split": str(lab.split[0]), "level": str(lab.level[0]), "index": int(lab.index[0])}
        return frames, states, labels
