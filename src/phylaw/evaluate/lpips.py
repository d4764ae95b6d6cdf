"""LPIPS (AlexNet, v0.1) per frame, as the paper computes it, from local weights only.

The paper calls ``lpips`` 0.1.4 with ``net='alex', spatial=True`` on frames mapped to [−1, 1] and takes the
mean of the returned map (SPEC_COMBINATORIAL C.2). That package downloads its AlexNet trunk through
torchvision, which is neither installable beside the CPU torch here nor allowed to download, so phylaw has its
own copy of the network:

- ``AlexNetTrunk``: torchvision's ``AlexNet.features`` layer for layer, so its state-dict keys are
  torchvision's ``features.N.weight / bias``; the trunk file is torchvision's ImageNet state dict, found by
  ``evaluate.weights`` (``--alexnet-weights``, ``$PHYLAW_ALEXNET_WEIGHTS``, or the weights folders).
- ``LPIPS``: lpips' ScalingLayer, the relu1..relu5 taps, channel-wise unit normalisation (eps 1e-10, as lpips;
  torchmetrics uses 1e-8), squared difference, the v0.1 linear heads (1×1 convs without bias), and the
  spatial variant: each layer's map upsampled bilinearly (align_corners=False) to the input size, summed over
  layers, then the mean of the map. The heads are the ``alex.pth`` that torchmetrics ships (byte-identical to
  the lpips wheel's): nothing is downloaded.

Everything runs in float32 on the CPU under ``torch.no_grad`` in eval mode, as lpips does.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from phylaw.errors import PhylawError
from phylaw.evaluate import weights
from phylaw.evaluate.image_metrics import check_frame_pair

TAPS = (1, 4, 7, 9, 11)  # indices in AlexNet.features of relu1..relu5 (lpips' slice ends)
TAP_CHANNELS = (64, 192, 384, 256, 256)
SHIFT = (-0.030, -0.088, -0.188)  # lpips ScalingLayer, per RGB channel, on [−1, 1] inputs
SCALE = (0.458, 0.448, 0.450)
NORM_EPS = 1e-10  # lpips.normalize_tensor
MIN_SIZE = 31  # px: the smallest input for which AlexNet's two max-pools before relu3 have a 3×3 window
HEAD_KEY = "lin{}.model.1.weight"  # alex.pth; index 1 because lpips puts a Dropout at index 0


class AlexNetTrunk(nn.Module):
    """torchvision's AlexNet ``features`` (same layers, same indices, same state-dict keys)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(3, 2),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) -> [relu1 (B, 64, h1, w1), ..., relu5 (B, 256, h5, w5)]; 256² gives 63², 31², 15²×3."""
        taps = []
        for i, layer in enumerate(self.features[: TAPS[-1] + 1]):
            x = layer(x)
            if i in TAPS:
                taps.append(x)
        return taps


def _unit(x: torch.Tensor) -> torch.Tensor:
    """Divide each position's feature vector by its L2 norm (+ eps), as lpips.normalize_tensor."""
    return x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + NORM_EPS)


class LPIPS(nn.Module):
    """LPIPS v0.1, AlexNet, spatial variant: distance of image pairs in [−1, 1] -> (B,) per pair."""

    def __init__(self, trunk: AlexNetTrunk, heads: list[torch.Tensor]) -> None:
        super().__init__()
        self.trunk = trunk
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in TAP_CHANNELS)
        for conv, w in zip(self.heads, heads, strict=True):
            conv.weight.data.copy_(w)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """x0, x1 (B, 3, H, W) float in [−1, 1] -> (B,) mean of the summed upsampled distance map."""
        b = len(x0)
        feats = self.trunk((torch.cat([x0, x1]) - self.shift) / self.scale)  # each (2B, C_k, h_k, w_k)
        total = torch.zeros(b, 1, *x0.shape[-2:], dtype=x0.dtype, device=x0.device)  # (B, 1, H, W)
        for f, head in zip(feats, self.heads, strict=True):
            d = (_unit(f[:b]) - _unit(f[b:])).pow(2)  # (B, C_k, h_k, w_k)
            total += F.interpolate(head(d), size=x0.shape[-2:], mode="bilinear", align_corners=False)
        return total.mean(dim=(1, 2, 3))


def head_path() -> Path:
    """torchmetrics' bundled LPIPS v0.1 AlexNet heads (``functional/image/lpips_models/alex.pth``), found from
    the package's location without importing torchmetrics (seconds of imports for one 6-kB file)."""
    spec = importlib.util.find_spec("torchmetrics")
    if spec is None or spec.origin is None:
        raise PhylawError("LPIPS needs torchmetrics installed: its alex.pth holds the linear-head weights")
    path = Path(spec.origin).parent / "functional" / "image" / "lpips_models" / "alex.pth"
    if not path.is_file():
        raise PhylawError(f"LPIPS linear-head weights not found at {path} (reinstall torchmetrics)")
    return path


def _read_state_dict(path: Path, what: str) -> Mapping[str, torch.Tensor]:
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, EOFError, UnpicklingError, ... on bad files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PhylawError(f"{path}: unreadable {what} (truncated or not a torch file: {reason})") from None
    if not isinstance(sd, Mapping) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise PhylawError(f"{path}: not a {what} (expected a state dict of tensors, got {type(sd).__name__})")
    return sd


def _trunk_shapes() -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in AlexNetTrunk().state_dict().items()}


def _check_keys(
    sd: Mapping[str, torch.Tensor], expected: dict[str, tuple[int, ...]], path: Path, what: str
) -> None:
    missing = [k for k in expected if k not in sd]
    if missing:
        raise PhylawError(f"{path}: not {what}: missing {', '.join(missing[:3])}")
    for k, shape in expected.items():
        if tuple(sd[k].shape) != shape:
            raise PhylawError(f"{path}: not {what}: {k} has shape {tuple(sd[k].shape)}, expected {shape}")


def load_trunk(path: Path) -> AlexNetTrunk:
    """AlexNetTrunk from torchvision's AlexNet state dict (``classifier.*`` keys are accepted and ignored)."""
    what = "torchvision's AlexNet state dict"
    sd = _read_state_dict(path, what)
    expected = _trunk_shapes()
    _check_keys(sd, expected, path, what)
    extra = [k for k in sd if k not in expected and not k.startswith("classifier.")]
    if extra:
        raise PhylawError(f"{path}: not {what}: unexpected keys {', '.join(extra[:3])}")
    trunk = AlexNetTrunk()
    trunk.load_state_dict({k: sd[k].float() for k in expected})
    return trunk


def load_heads(path: Path | None = None) -> list[torch.Tensor]:
    """The five v0.1 linear heads (1, C_k, 1, 1) from ``alex.pth`` (legacy torch format, tensors on cuda:0)."""
    path = path or head_path()
    what = "LPIPS v0.1 AlexNet head file (alex.pth)"
    sd = _read_state_dict(path, what)
    expected = {HEAD_KEY.format(k): (1, c, 1, 1) for k, c in enumerate(TAP_CHANNELS)}
    _check_keys(sd, expected, path, what)
    return [sd[k].float() for k in expected]


@functools.lru_cache(maxsize=4)
def _cached(path: str, mtime_ns: int, size: int) -> LPIPS:  # the file's identity keys the cache
    del mtime_ns, size
    model = LPIPS(load_trunk(Path(path)), load_heads()).eval()
    model.requires_grad_(False)
    return model


def load_lpips(trunk_path: str | Path | None = None, overrides: Mapping | None = None) -> LPIPS:
    """The LPIPS model with the trunk at ``trunk_path`` (else ``weights.resolve("alexnet", overrides)``).

    ``weights.WeightsMissing`` when no trunk file is there; ``PhylawError`` naming the file when it is not
    torchvision's AlexNet (wrong keys or shapes) or cannot be read (truncated). Cached per file: callers
    share the returned module and must not modify it.
    """
    path = weights.resolve("alexnet", {"alexnet": trunk_path} if trunk_path else overrides).resolve()
    stat = path.stat()
    return _cached(str(path), stat.st_mtime_ns, stat.st_size)


def _to_unit_range(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2)  # (B, 3, H, W) uint8
    return x.float() / 255.0 * 2.0 - 1.0  # [−1, 1], as phyworld maps [0, 1] videos


def lpips_frames(a: np.ndarray, b: np.ndarray, model: LPIPS, batch: int = 16) -> np.ndarray:
    """LPIPS per frame of uint8 (n, T, H, W, 3) pairs -> (n, T) float64 (0 = identical)."""
    check_frame_pair(a, b, "lpips", min_size=MIN_SIZE)
    fa, fb = a.reshape(-1, *a.shape[2:]), b.reshape(-1, *b.shape[2:])  # (n·T, H, W, 3)
    device = model.shift.device
    out = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(fa), batch):
            x0, x1 = _to_unit_range(fa[i : i + batch], device), _to_unit_range(fb[i : i + batch], device)
            out.append(model(x0, x1).double().cpu().numpy())
    return np.concatenate(out).reshape(a.shape[:2])
