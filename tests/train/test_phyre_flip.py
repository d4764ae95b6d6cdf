"""Horizontal flips of PHYRE-style scenes (issue 14): the mirrored states draw the mirrored frames."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from phylaw import sim
from phylaw.render.phyre_raster import render_phyre
from phylaw.train.data import hflip_frames, hflip_states

WORLD = 512.0


def _mirrored(states):
    fields = ("position", "velocity", "angle", "vertices")
    flipped = []
    for i in range(len(states)):
        one = {f: torch.from_numpy(getattr(states, f)[i].copy()) for f in fields}
        flipped.append(hflip_states(one, world_size=WORLD))
    return dataclasses.replace(states, **{f: np.stack([d[f].numpy() for d in flipped]) for f in fields})


def test_mirrored_states_draw_the_mirrored_frames():
    batch = sim.get_split("phyre", "train60-tiny", n_frames=6).generate(0, 8, seed=3)
    states = batch.states
    frames = render_phyre(states, 128)  # (n, T, H, W, 3)
    mirrored = render_phyre(_mirrored(states), 128)
    expect = np.stack([hflip_frames(torch.from_numpy(f)).numpy() for f in frames])
    differ = (mirrored != expect).any(axis=-1).mean()
    # PHYRE's pixel-centre rule is not mirror-symmetric (discs are sampled 0.5 scene units off centre, polygon
    # rows and columns round half to even), so edge pixels may move by one; bodies may not
    assert differ < 0.004, differ
    wrong_angle = dataclasses.replace(_mirrored(states), angle=states.angle)  # mirror without the rotation
    assert (render_phyre(wrong_angle, 128) != expect).any(axis=-1).mean() > 3 * differ


def test_kinematic_flip_is_unchanged_and_gravity_stays_down():
    pos = torch.tensor([[[2.0, 7.0]], [[3.0, 6.5]]])  # (T, K, 2): falling to the right
    vel = torch.tensor([[[1.0, -0.5]], [[1.0, -1.0]]])
    out = hflip_states({"position": pos, "velocity": vel})
    assert torch.equal(out["position"][..., 0], 10.0 - pos[..., 0])
    assert torch.equal(out["position"][..., 1], pos[..., 1])
    assert torch.equal(out["velocity"], torch.tensor([[[-1.0, -0.5]], [[-1.0, -1.0]]]))
    assert "angle" not in out


def _signed_area(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def test_outlines_mirror_in_x_and_keep_their_winding():
    tri = [[0.0, 0.0], [4.0, 0.0], [1.0, 3.0]]  # counter-clockwise, not symmetric about x = 0
    quad = [[-1.0, -1.0], [2.0, -1.0], [2.0, 1.0], [-1.0, 1.0]]
    nan = [[np.nan, np.nan]]
    vertices = torch.tensor([tri + nan + quad + nan * 2])  # (K=1, V=10, 2): two parts, NaN padded
    out = hflip_states({"vertices": vertices}, world_size=WORLD)["vertices"][0].numpy()
    parts = [out[0:3], out[4:8]]
    assert np.isnan(out[3]).all()
    assert np.isnan(out[8:]).all()
    for part, src in zip(parts, (tri, quad), strict=True):
        assert sorted(map(tuple, part)) == sorted((-x, y) for x, y in src)  # the same points, mirrored
        assert _signed_area(part) > 0  # still counter-clockwise
