"""VideoDataset: (frames, states, labels) items, other resolutions, DataLoader workers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from phylaw.datasets import VideoDataset, open_dataset
from phylaw.errors import PhylawError


def test_items(stored_collision):
    ds = VideoDataset(stored_collision, indices=[3, 7], n_frames=20)
    assert len(ds) == 2
    frames, states, labels = ds[1]
    assert frames.dtype == torch.uint8
    assert frames.shape == (20, 32, 32, 3)
    raw = open_dataset(stored_collision)
    np.testing.assert_array_equal(frames.numpy(), raw.frames(7)[:20])
    assert states["position"].shape == (20, 2, 2)
    assert states["in_view"].shape == (20, 2)
    assert states["radius"].shape == (2,)
    np.testing.assert_array_equal(states["velocity"].numpy(), raw.states(7)["velocity"][:20])
    assert int(states["contact_frame"]) == int(raw.states(7)["contact_frame"])
    assert labels == {"split": str(raw.labels.split[7]), "level": str(raw.labels.level[7]), "index": 7}


def test_other_resolution_and_dataloader_workers(procedural_collision):
    ds = VideoDataset(procedural_collision, resolution=24)
    loader = torch.utils.data.DataLoader(ds, batch_size=6, num_workers=2)
    batches = list(loader)
    frames = torch.cat([b[0] for b in batches])
    assert frames.shape == (24, 32, 24, 24, 3)
    np.testing.assert_array_equal(frames[5].numpy(), open_dataset(procedural_collision).frames(5, 24))
    assert batches[0][2]["index"].tolist() == list(range(6))


def test_bad_arguments(stored_collision):
    with pytest.raises(PhylawError, match="resolution"):
        VideoDataset(stored_collision, resolution=4)
    with pytest.raises(PhylawError, match="indices"):
        VideoDataset(stored_collision, indices=[24])
    with pytest.raises(PhylawError, match="n_frames"):
        VideoDataset(stored_collision, n_frames=33)


def test_items_carry_the_v2_states(stored_collision):
    _, states, _ = VideoDataset(stored_collision, indices=[4], n_frames=10)[0]
    assert states["angle"].shape == (10, 2)  # per-frame fields are cut to n_frames
    assert states["present"].tolist() == [True, True]
    assert states["event_time"].shape == (1,)
    assert states["event_a"].tolist() == ([0] if np.isfinite(float(states["contact_time"])) else [-1])
