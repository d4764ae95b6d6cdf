"""Training data: the batch schedule (pure function of seed and step), horizontal flips, and latent sources.

Data order: global sample ``p = step * B + j`` is video ``perm_e[p mod N]`` with ``e = p // N`` and
``perm_e = child_rng(seed, "perm", e).permutation(N)``, so the batch of any step is known without state
(exact resume) and does not depend on the number of ranks. Flip flags are drawn per step from
``child_rng(seed, "flip", step)`` for the whole global batch, then sliced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm.auto import tqdm

from phylaw.datasets.torch_dataset import VideoDataset
from phylaw.errors import PhylawError
from phylaw.models.autoencoder import Autoencoder, frames_to_tensor
from phylaw.seeding import child_rng
from phylaw.sim.trajectory import WORLD_SIZE

log = logging.getLogger(__name__)


def step_indices(step: int, batch_size: int, n: int, seed: int) -> np.ndarray:
    """Positions (B,) in [0, n) of the global batch of optimizer step ``step`` (epoch-wise permutations)."""
    return BatchOrder(n, seed).indices(step, batch_size)


class BatchOrder:
    """:func:`step_indices` with the permutations of the epochs in use kept (one permutation of 3M videos
    costs ~50 ms, too much to redo every step); same results as the pure function."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed = n, seed
        self._perms: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            if len(self._perms) >= 2:
                self._perms.pop(min(self._perms))
            self._perms[epoch] = child_rng(self.seed, "perm", epoch).permutation(self.n)
        return self._perms[epoch]

    def indices(self, step: int, batch_size: int) -> np.ndarray:
        p = np.arange(step * batch_size, (step + 1) * batch_size, dtype=np.int64)
        epochs, offsets = np.divmod(p, self.n)
        out = np.empty(batch_size, dtype=np.int64)
        for e in np.unique(epochs):
            sel = epochs == e
            out[sel] = self._perm(int(e))[offsets[sel]]
        return out


def flip_flags(step: int, batch_size: int, seed: int, enabled: bool) -> np.ndarray:
    """(B,) bool: which videos of the step's global batch are mirrored left-right (p = 0.5 each)."""
    if not enabled:
        return np.zeros(batch_size, dtype=bool)
    return child_rng(seed, "flip", step).random(batch_size) < 0.5


def hflip_frames(frames: torch.Tensor) -> torch.Tensor:
    """Mirror uint8 frames (T, H, W, 3) left-right."""
    return frames.flip(2)


def hflip_states(states: dict[str, torch.Tensor], world_size: float = WORLD_SIZE) -> dict[str, torch.Tensor]:
    """States of the mirrored video: x -> world_size - x, vx -> -vx (y, radius, colours unchanged; gravity
    stays down). Rigid bodies (``phyre``, ``world_size`` 512): angle -> -angle and body-frame vertices
    (K, V, 2) x -> -x, each NaN-separated polygon reversed so it keeps its winding (a mirror M = diag(-1, 1)
    has M R(a) v = R(-a) M v, so pose and outline mirror together)."""
    out = dict(states)
    if "position" in states:
        pos = states["position"].clone()  # (T, K, 2)
        pos[..., 0] = world_size - pos[..., 0]
        out["position"] = pos
    if "velocity" in states:
        vel = states["velocity"].clone()  # (T, K, 2)
        vel[..., 0] = -vel[..., 0]
        out["velocity"] = vel
    if "angle" in states:
        out["angle"] = -states["angle"]  # (T, K)
    if "vertices" in states:
        out["vertices"] = _mirror_outlines(states["vertices"])  # (K, V, 2)
    return out


def _mirror_outlines(vertices: torch.Tensor) -> torch.Tensor:
    """(K, V, 2) body-frame polygons (parts separated by NaN rows) mirrored in x, each part reversed."""
    out = vertices.clone()
    out[..., 0] = -out[..., 0]
    for k in range(out.shape[0]):
        gap = torch.isnan(out[k, :, 0])
        start = 0
        for end in [*torch.nonzero(gap).flatten().tolist(), out.shape[1]]:
            if end > start:
                out[k, start:end] = out[k, start:end].flip(0)
            start = end + 1
    return out


def ae_identity(ae: Autoencoder) -> str:
    """A content hash of an autoencoder (kind, geometry, weights): part of the latent-cache key."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps(ae.describe(), sort_keys=True).encode())
    for name, tensor in sorted(ae.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class LatentSource:
    """Clean latents (B, C, T', H', W') for dataset positions and flip flags.

    Pixel-space autoencoders encode on the fly (cheap), from uint8 frames kept in memory up to
    ``memory_budget`` bytes (the rest is re-read from the dataset each time). Learned ones read a latent cache (HDF5, one row per
    video, unflipped and flipped), built once by :meth:`build_cache` and keyed by dataset fingerprint,
    autoencoder hash, resolution, frame count, selected rows and flips, so a cache is never used with the wrong data or weights.

    Rows are shared between caches: each video is encoded alone (its latents depend on its frames and the
    weights only, not on which videos shared its batch) and stored with a hash of its frames, so a cache built
    beside complete caches of the same autoencoder, resolution and length copies the rows of the videos they
    hold and encodes only the others (Table 2's 6- and 30-template training sets are subsets of the
    60-template one). Copied rows are the bytes an encode would write.
    """

    def __init__(
        self,
        data: VideoDataset,
        ae: Autoencoder | None,
        device: torch.device,
        *,
        cache_dir: Path | None = None,
        hflip: bool = True,
        memory_budget: int = 1 << 30,
    ) -> None:
        self.data, self.ae, self.device, self.hflip = data, ae, device, hflip
        self.cache_path: Path | None = None
        # what makes two caches' rows interchangeable: layout, weights, resolution, length
        self.geometry = ""
        if cache_dir is not None and ae is not None and ae.kind != "identity":
            self.geometry = json.dumps([CACHE_LAYOUT, ae_identity(ae), data.resolution, data.n_frames])
            key = hashlib.blake2b(digest_size=8)
            fp = data.data.fingerprint
            key.update(json.dumps([fp, self.geometry, data.indices.tolist(), hflip]).encode())
            self.cache_path = cache_dir / f"latents-{key.hexdigest()}.h5"
        self._cache: h5py.File | None = None
        self._in_memory: dict[str, np.ndarray] = {}
        self._frames: dict[int, torch.Tensor] = {}
        self._frame_bytes = 0
        self.memory_budget = memory_budget

    def __len__(self) -> int:
        return len(self.data)

    def video(self, pos: int) -> torch.Tensor:
        """uint8 (T, H, W, 3) of dataset position ``pos``; kept in memory while under the byte budget."""
        if pos in self._frames:
            return self._frames[pos]
        j = int(self.data.indices[pos])
        frames = torch.from_numpy(
            np.ascontiguousarray(self.data.data.frames(j, self.data.resolution)[: self.data.n_frames])
        )
        if self._frame_bytes + frames.numel() <= self.memory_budget:
            self._frames[pos] = frames
            self._frame_bytes += frames.numel()
        return frames

    def frames(self, positions: np.ndarray, flips: np.ndarray) -> torch.Tensor:
        """uint8 (B, T, H, W, 3) of the selected videos, mirrored where ``flips``.

        Training consumes frames only; a consumer of states mirrors them with :func:`hflip_states`.
        """
        out = [
            hflip_frames(self.video(pos)) if flip else self.video(pos)
            for pos, flip in zip(positions.tolist(), flips.tolist(), strict=True)
        ]
        return torch.stack(out)  # (B, T, H, W, 3)

    @torch.no_grad()
    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames_to_tensor(frames).to(self.device)  # (B, 3, T, H, W)
        return self.ae.encode(x).float()  # (B, C, T', H', W')

    def latents(self, positions: np.ndarray, flips: np.ndarray) -> torch.Tensor:
        if self.cache_path is None:
            return self.encode_frames(self.frames(positions, flips))
        if self._cache is None:
            if not self.cache_path.is_file():
                raise PhylawError(f"latent cache {self.cache_path} is missing (build it first)")
            self._cache = h5py.File(self.cache_path, "r")
            names = self.cache_sets
            if sum(self._cache[n].nbytes for n in names) <= self.memory_budget:
                # small caches (the demo's: 17 MB) are read once: no HDF5 read per row per step
                self._in_memory = {n: self._cache[n][:] for n in names}
        store = self._in_memory or self._cache
        rows = []
        for pos, flip in zip(positions.tolist(), flips.tolist(), strict=True):
            rows.append(store["z_flip" if flip else "z"][pos])
        return torch.from_numpy(np.stack(rows)).to(self.device)  # (B, C, T', H', W')

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None
        self._in_memory = {}

    @property
    def cache_sets(self) -> tuple[str, ...]:
        """The cache's latent datasets: ``z``, and ``z_flip`` when flips are on."""
        return ("z", "z_flip") if self.hflip else ("z",)

    def _donors(self) -> tuple[dict[bytes, tuple[h5py.File, int]], list[h5py.File]]:
        """Rows of the complete caches beside this one that hold what this cache needs: video hash ->
        (open file, row); the open files (closed by the caller)."""
        names = self.cache_sets
        rows: dict[bytes, tuple[h5py.File, int]] = {}
        files: list[h5py.File] = []
        for path in sorted(self.cache_path.parent.glob("latents-*.h5")):
            if path == self.cache_path:
                continue
            try:
                f = h5py.File(path, "r")
            except OSError:  # unreadable: not a donor
                continue
            usable = f.attrs.get("geometry") == self.geometry and all(k in f for k in ("video_key", *names))
            if not usable:
                f.close()
                continue
            files.append(f)
            for row, k in enumerate(f["video_key"][:].tolist()):
                rows.setdefault(k, (f, row))
        return rows, files

    @torch.no_grad()
    def build_cache(self, progress: bool = True) -> Path | None:
        """Encode every video (and its mirror image if flips are on) into the cache file; skip if present.

        Videos already in a complete cache of the same geometry in the same directory are copied from it, the
        rest encoded one video at a time."""
        if self.cache_path is None or self.cache_path.is_file():
            return self.cache_path
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        # per-process name: cells that share a cache directory may build the same file at the same time
        tmp = self.cache_path.with_name(f"{self.cache_path.name}.{os.getpid()}.partial")
        n = len(self.data)
        shape = self.ae.latent_shape(self.data.n_frames, self.data.resolution)
        names = self.cache_sets
        donors, files = self._donors()
        copied = 0
        try:
            with h5py.File(tmp, "w") as f:
                sets = {k: f.create_dataset(k, (n, *shape), "float32", chunks=(1, *shape)) for k in names}
                keys = f.create_dataset("video_key", (n,), dtype=f"S{2 * VIDEO_KEY_BYTES}")
                for pos in tqdm(range(n), desc="encoding latents", disable=not progress):
                    frames = self.video(pos)
                    key = video_key(frames)
                    keys[pos] = key
                    if key in donors:
                        src, row = donors[key]
                        for name in names:
                            sets[name][pos] = src[name][row]
                        copied += 1
                        continue
                    sets["z"][pos] = self.encode_frames(frames[None]).cpu().numpy()[0]
                    if self.hflip:
                        sets["z_flip"][pos] = self.encode_frames(hflip_frames(frames)[None]).cpu().numpy()[0]
                f.attrs["fingerprint"] = self.data.data.fingerprint
                f.attrs["geometry"] = self.geometry
        finally:
            for g in files:
                g.close()
        tmp.replace(self.cache_path)
        log.info("latent cache written: %s (%d of %d videos copied)", self.cache_path, copied, n)
        return self.cache_path


# caches of older layouts (videos encoded in batches of 8) are never read or shared
CACHE_LAYOUT = "per-video-1"
VIDEO_KEY_BYTES = 16


def video_key(frames: torch.Tensor) -> bytes:
    """Hex hash of a video's uint8 frames (shape and bytes): the identity under which cache rows are shared."""
    h = hashlib.blake2b(digest_size=VIDEO_KEY_BYTES)
    h.update(json.dumps(list(frames.shape)).encode())
    h.update(frames.contiguous().numpy().tobytes())
    return h.hexdigest().encode()
