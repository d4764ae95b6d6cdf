"""Trajectories: per-frame ground-truth states of a batch of videos (the testbed's central data type)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

WORLD_SIZE = 10.0  # the world is [0, 10] x [0, 10] world units, y up
FRAME_DT = 0.1  # seconds between frames; frame k is at t = 0.1 * k

# shape ids (render.raster draws them; evaluate.parse recognises them)
SHAPE_DISC = 0
SHAPE_SQUARE = 1
SHAPE_RING = 2


@dataclass(frozen=True)
class Trajectories:
    """States of N videos, T frames, K objects. All arrays are numpy; world units, y up.

    position:      (N, T, K, 2) float64  centre (x, y) at frame k (t = dt * k)
    velocity:      (N, T, K, 2) float64  instantaneous velocity at frame k (exact, from the closed form)
    radius:        (N, K)       float64  disc radius (square: half side)
    color:         (N, K)       uint8    palette id (render.palette)
    shape:         (N, K)       uint8    SHAPE_DISC / SHAPE_SQUARE / SHAPE_RING
    in_view:       (N, T, K)    bool     object fully inside the world square at frame k
    contact_time:  (N,)         float64  time of the first contact in seconds, NaN if none
    contact_frame: (N,)         int32    first frame index k with t_k >= contact_time, -1 if none
    """

    scenario: str
    position: np.ndarray
    velocity: np.ndarray
    radius: np.ndarray
    color: np.ndarray
    shape: np.ndarray
    in_view: np.ndarray
    contact_time: np.ndarray
    contact_frame: np.ndarray
    dt: float = FRAME_DT

    def __len__(self) -> int:
        return int(self.position.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.position.shape[1])

    @property
    def n_objects(self) -> int:
        return int(self.position.shape[2])

    def subset(self, indices: np.ndarray | slice) -> Trajectories:
        """The trajectories of the selected videos (same frames and objects)."""
        kw = {}
        for f in fields(self):
            value = getattr(self, f.name)
            kw[f.name] = value[indices] if isinstance(value, np.ndarray) else value
        return Trajectories(**kw)

    def with_appearance(
        self, color: np.ndarray | int | None = None, shape: np.ndarray | int | None = None
    ) -> Trajectories:
        """The same motion with other palette ids and/or shape ids (broadcast to (N, K)), e.g. for the
        attribute studies (blue squares, red rings). Motion, radius and in_view are unchanged: a square of
        half side r has the same extent as a disc of radius r."""
        n, k = self.radius.shape
        new_color = (
            self.color if color is None else np.broadcast_to(np.asarray(color, np.uint8), (n, k)).copy()
        )
        new_shape = (
            self.shape if shape is None else np.broadcast_to(np.asarray(shape, np.uint8), (n, k)).copy()
        )
        return replace(self, color=new_color, shape=new_shape)

    @staticmethod
    def concatenate(parts: list[Trajectories]) -> Trajectories:
        if not parts:
            raise ValueError("nothing to concatenate")
        kw = {}
        for f in fields(parts[0]):
            value = getattr(parts[0], f.name)
            kw[f.name] = (
                np.concatenate([getattr(p, f.name) for p in parts])
                if isinstance(value, np.ndarray)
                else value
            )
        return Trajectories(**kw)
