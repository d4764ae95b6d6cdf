"""Autoencoders behind one interface: frames (B,3,T,H,W) in [-1,1] <-> diffusion latents (B,C,T',H',W').

``encode`` returns latents already multiplied by ``scaling_factor`` (unit-variance-ish, ready for diffusion);
``decode`` undoes the scaling. Attributes: ``latent_channels``, ``spatial_factor``, ``temporal_factor``,
``scaling_factor``. Kinds:

- ``identity``: pixel space, optionally with a fixed space-to-depth (``pixel_unshuffle``) factor s, so a 64^2
  video becomes (3*s*s, T, 64/s, 64/s) and the DiT sees few tokens;
- ``vae``: phylaw's frame-wise :class:`~phylaw.models.vae.VideoVAE`, trained by ``phylaw train-vae``;
- ``diffusers``: a pretrained diffusers ``AutoencoderKL`` (frame-wise) or ``AutoencoderKLCogVideoX`` (temporal
  x4, causal) loaded from a local directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from phylaw.errors import PhylawError
from phylaw.io import atomic_path
from phylaw.models.vae import VAEConfig, VideoVAE

VAE_WEIGHTS = "vae.pt"


def frames_to_tensor(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (B,T,H,W,3) -> float32 (B,3,T,H,W) in [-1, 1]."""
    x = torch.as_tensor(frames)
    return x.permute(0, 4, 1, 2, 3).float().div(127.5).sub(1.0)


def tensor_to_frames(x: torch.Tensor) -> np.ndarray:
    """float (B,3,T,H,W) in [-1, 1] -> uint8 (B,T,H,W,3) (rounded, clipped)."""
    y = x.detach().float().clamp(-1.0, 1.0).add(1.0).mul(127.5).round().to(torch.uint8)
    return y.permute(0, 2, 3, 4, 1).cpu().numpy()


class Autoencoder(nn.Module):
    """Common base: subclasses set the four attributes and implement ``encode``/``decode``."""

    latent_channels: int
    spatial_factor: int
    temporal_factor: int
    scaling_factor: float
    kind: str

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def latent_shape(self, n_frames: int, resolution: int) -> tuple[int, int, int, int]:
        """(C, T', H', W') of the latents of an (n_frames, resolution^2) video; errors if it does not divide."""
        f, tf = self.spatial_factor, self.temporal_factor
        if resolution % f:
            raise PhylawError(
                f"resolution {resolution} is not divisible by the autoencoder's spatial factor {f}"
            )
        if tf == 1:
            t = n_frames
        elif (n_frames - 1) % tf == 0:
            t = (n_frames - 1) // tf + 1
        else:
            raise PhylawError(
                f"{n_frames} frames do not fit the autoencoder's temporal factor {tf} (need 1 + k*{tf})"
            )
        return (self.latent_channels, t, resolution // f, resolution // f)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "latent_channels": self.latent_channels,
            "spatial_factor": self.spatial_factor,
            "temporal_factor": self.temporal_factor,
            "scaling_factor": self.scaling_factor,
        }


class IdentityAutoencoder(Autoencoder):
    """Pixel space: z = pixel_unshuffle(x, s) frame by frame; no parameters."""

    def __init__(self, space_to_depth: int = 1) -> None:
        super().__init__()
        self.kind = "identity"
        self.s = int(space_to_depth)
        self.latent_channels = 3 * self.s * self.s
        self.spatial_factor = self.s
        self.temporal_factor = 1
        self.scaling_factor = 1.0

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        imgs = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)  # (B*T, 3, H, W)
        z = F.pixel_unshuffle(imgs, self.s)  # (B*T, 3*s*s, H/s, W/s)
        return z.reshape(b, t, *z.shape[1:]).permute(0, 2, 1, 3, 4)  # (B, 3*s*s, T, H/s, W/s)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = z.shape
        imgs = z.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)  # (B*T, C, h, w)
        x = F.pixel_shuffle(imgs, self.s)  # (B*T, 3, h*s, w*s)
        return x.reshape(b, t, *x.shape[1:]).permute(0, 2, 1, 3, 4)  # (B, 3, T, H, W)


class VideoVAEAutoencoder(Autoencoder):
    """phylaw's VideoVAE with its measured scaling factor; encode uses the posterior mean."""

    def __init__(self, vae: VideoVAE, scaling_factor: float) -> None:
        super().__init__()
        self.kind = "vae"
        self.vae = vae
        self.latent_channels = vae.cfg.latent_channels
        self.spatial_factor = vae.cfg.spatial_factor
        self.temporal_factor = 1
        self.scaling_factor = float(scaling_factor)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        mean, _ = self.vae.posterior(x)  # (B, C, T, h, w)
        return mean * self.scaling_factor

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode_latents(z / self.scaling_factor)


class DiffusersAutoencoder(Autoencoder):
    """A diffusers AutoencoderKL (2-D, applied per frame) or AutoencoderKLCogVideoX (3-D); latent = mode."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.kind = "diffusers"
        self.model = model
        cfg = model.config
        self.video = type(model).__name__ == "AutoencoderKLCogVideoX"
        self.latent_channels = int(cfg.latent_channels)
        self.spatial_factor = 2 ** (len(cfg.block_out_channels) - 1)
        self.temporal_factor = int(getattr(cfg, "temporal_compression_ratio", 4)) if self.video else 1
        self.scaling_factor = float(getattr(cfg, "scaling_factor", 1.0) or 1.0)
        self.shift_factor = float(getattr(cfg, "shift_factor", None) or 0.0)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.video:
            z = self.model.encode(x).latent_dist.mode()  # (B, C, T', h, w)
        else:
            b, c, t, h, w = x.shape
            imgs = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)  # (B*T, 3, H, W)
            zi = self.model.encode(imgs).latent_dist.mode()  # (B*T, C, h, w)
            z = zi.reshape(b, t, *zi.shape[1:]).permute(0, 2, 1, 3, 4)  # (B, C, T, h, w)
        return (z - self.shift_factor) * self.scaling_factor

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        z = z / self.scaling_factor + self.shift_factor
        if self.video:
            return self.model.decode(z).sample  # (B, 3, T, H, W)
        b, c, t, h, w = z.shape
        zi = z.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)  # (B*T, C, h, w)
        x = self.model.decode(zi).sample  # (B*T, 3, H, W)
        return x.reshape(b, t, *x.shape[1:]).permute(0, 2, 1, 3, 4)  # (B, 3, T, H, W)


def save_video_vae(
    path: Path, vae: VideoVAE, scaling_factor: float, extra: dict[str, Any] | None = None
) -> None:
    """Write the VAE weights + architecture + scaling factor to ``path`` atomically."""
    payload = {
        "format": "phylaw-vae",
        "arch": vae.cfg.__dict__,
        "scaling_factor": float(scaling_factor),
        "state_dict": vae.state_dict(),
        "extra": extra or {},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_video_vae(path: str | Path, map_location: str | torch.device = "cpu") -> VideoVAEAutoencoder:
    """A trained VideoVAE from a ``train-vae`` run directory (its ``vae.pt``) or the ``.pt`` file itself."""
    if not str(path):
        raise PhylawError("autoencoder.kind=vae needs autoencoder.path: a `phylaw train-vae` run directory")
    p = Path(path)
    file = p / VAE_WEIGHTS if p.is_dir() else p
    if not file.is_file():
        raise PhylawError(f"no trained VideoVAE at {p} (expected {file}; train one with `phylaw train-vae`)")
    try:
        payload = torch.load(file, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise PhylawError(f"cannot read VideoVAE checkpoint {file}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != "phylaw-vae":
        raise PhylawError(f"{file} is not a phylaw VideoVAE checkpoint")
    with torch.device("meta"):  # no default init (no global RNG); every weight comes from the file
        vae = VideoVAE(VAEConfig(**payload["arch"]))
    vae = vae.to_empty(device="cpu")
    vae.load_state_dict(payload["state_dict"])
    return VideoVAEAutoencoder(vae, payload["scaling_factor"]).eval()


def load_diffusers_vae(path: str | Path) -> DiffusersAutoencoder:
    """A diffusers-format VAE directory (``config.json`` + weights) saved with ``save_pretrained``."""
    p = Path(path) if str(path) else None
    if p is None or not (p / "config.json").is_file():
        raise PhylawError(
            f"no diffusers VAE at {str(path) or '<empty path>'!r}: set autoencoder.path (or PHYLAW_VAE_PATH) "
            "to a local directory holding config.json and the weights"
        )
    import diffusers

    name = json.loads((p / "config.json").read_text()).get("_class_name", "AutoencoderKL")
    if name not in ("AutoencoderKL", "AutoencoderKLCogVideoX"):
        raise PhylawError(
            f"{p}: unsupported diffusers VAE class {name!r} (AutoencoderKL, AutoencoderKLCogVideoX)"
        )
    try:
        model = getattr(diffusers, name).from_pretrained(str(p))
    except (OSError, ValueError) as exc:
        raise PhylawError(f"cannot load diffusers VAE from {p}: {str(exc).splitlines()[0]}") from exc
    return DiffusersAutoencoder(model).eval()


def build_autoencoder(kind: str, path: str = "", space_to_depth: int = 1) -> Autoencoder:
    """The autoencoder named by an :class:`~phylaw.config.AutoencoderConfig` (weights frozen, eval mode)."""
    if kind == "identity":
        ae: Autoencoder = IdentityAutoencoder(space_to_depth)
    elif kind == "vae":
        ae = load_video_vae(path)
    elif kind == "diffusers":
        ae = load_diffusers_vae(path)
    else:
        raise PhylawError(f"unknown autoencoder kind {kind!r} (identity, vae, diffusers)")
    ae.requires_grad_(False)
    return ae.eval()
