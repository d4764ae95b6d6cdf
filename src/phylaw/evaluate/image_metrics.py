"""Per-frame SSIM and PSNR of generated videos against their ground truth, with the paper's definitions.

The paper (phyworld's vendored ``common_metrics``, SPEC_COMBINATORIAL C.3) computes, per frame of [0, 1] RGB
images in float64:

- **SSIM**: per channel, Gaussian 11×11 window with σ = 1.5, C1 = 0.01², C2 = 0.03², the SSIM map cropped by
  5 px on every side (the "valid" map), averaged over channels and pixels.
- **PSNR**: 10·log10(1 / MSE) with the MSE over C×H×W, set to 100 where MSE < 1e-10 (identical frames).

SSIM is the value of torchmetrics' ``structural_similarity_index_measure(gaussian_kernel=True, sigma=1.5,
data_range=1.0, k1=0.01, k2=0.03, return_full_image=True)`` with the full map cropped ``[5:-5, 5:-5]``, in
float64: the paper's valid SSIM at every torchmetrics version (≤ 1.4 cropped the border itself, ≥ 1.5
averages the reflect-padded border too; ``data_range`` must be given or C1, C2 follow the data). It is
computed here rather than by calling torchmetrics: torch has no fast float64 convolution on the CPU, and
that call takes over a minute per 32-frame 256² video on one core. The same normalised 11-tap Gaussian,
applied separably (scipy's C filter) and cropped, gives the same map in about 0.7 s; the tests check the
agreement (1e-12) against torchmetrics itself and against an independent 2-D scipy implementation.

PSNR is exact integer arithmetic on the uint8 frames (the sum of squared differences), then float64; it equals
torchmetrics' ``peak_signal_noise_ratio(data_range=1.0, dim=(1, 2, 3))`` per frame, with the 100-dB cap the
paper applies by hand (also a test).

SSIM works frame by frame and PSNR in chunks of frames, so memory stays bounded for (32, 32, 256, 256, 3).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from phylaw.errors import PhylawError

SSIM_SIGMA = 1.5  # Gaussian window σ; torchmetrics derives the size 2·int(3.5σ + 0.5) + 1 = 11
SSIM_K1, SSIM_K2 = 0.01, 0.03
PSNR_CAP = 100.0  # dB where MSE < PSNR_MIN_MSE (identical frames)
PSNR_MIN_MSE = 1e-10


def check_frame_pair(a: np.ndarray, b: np.ndarray, what: str, min_size: int = 1) -> None:
    """Raise a one-line PhylawError unless ``a`` and ``b`` are uint8 (n, T, H, W, 3) of the same shape."""
    for name, x in (("generated", a), ("ground truth", b)):
        if not isinstance(x, np.ndarray) or x.ndim != 5 or x.shape[-1] != 3:
            shape = getattr(x, "shape", type(x).__name__)
            raise PhylawError(f"{what}: {name} frames must be (n, T, H, W, 3) RGB, got shape {shape}")
        if x.dtype != np.uint8:
            raise PhylawError(f"{what}: {name} frames must be uint8, got {x.dtype}")
    if a.shape != b.shape:
        raise PhylawError(
            f"{what}: {_mismatch(a.shape, b.shape)}: generated {a.shape} vs ground truth {b.shape}"
        )
    if a.size == 0:
        raise PhylawError(f"{what}: no frames (shape {a.shape})")
    if min(a.shape[2:4]) < min_size:
        raise PhylawError(
            f"{what}: frames of {a.shape[2]}x{a.shape[3]} px are too small (needs >= {min_size} px)"
        )


def _mismatch(sa: tuple, sb: tuple) -> str:
    if sa[2:4] != sb[2:4]:
        return f"different resolution ({sa[2]}x{sa[3]} vs {sb[2]}x{sb[3]})"
    if sa[1] != sb[1]:
        return f"different length ({sa[1]} vs {sb[1]} frames)"
    return f"different number of videos ({sa[0]} vs {sb[0]})"


def _flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(-1, *x.shape[2:])  # (n·T, H, W, 3)


def _gaussian(sigma: float) -> np.ndarray:
    """The normalised 1-D Gaussian of torchmetrics and OpenCV: 2·int(3.5σ + 0.5) + 1 taps."""
    size = 2 * int(3.5 * sigma + 0.5) + 1
    d = np.arange(size) - (size - 1) / 2
    g = np.exp(-0.5 * (d / sigma) ** 2)
    return g / g.sum()


SSIM_WINDOW = _gaussian(SSIM_SIGMA)  # (11,)


def _valid_filter(x: np.ndarray) -> np.ndarray:
    """Valid 2-D correlation of (H, W) with SSIM_WINDOW ⊗ SSIM_WINDOW -> (H-10, W-10).

    scipy's separable C filter; its border mode only touches the 5-px rim that the crop removes."""
    r = len(SSIM_WINDOW) // 2
    y = ndimage.correlate1d(x, SSIM_WINDOW, axis=0, mode="nearest")
    return ndimage.correlate1d(y, SSIM_WINDOW, axis=1, mode="nearest")[r:-r, r:-r]


def _ssim_frame(a: np.ndarray, b: np.ndarray) -> float:
    """Valid SSIM of one frame pair (H, W, 3) uint8: mean over channels of the mean of the cropped map."""
    c1, c2 = SSIM_K1**2, SSIM_K2**2  # data_range = 1
    total = 0.0
    for c in range(3):  # per channel on (H, W) planes: the fastest layout for scipy's line filters
        x, y = a[..., c] / 255.0, b[..., c] / 255.0  # float64 in [0, 1]
        mx, my, mxx, myy, mxy = (_valid_filter(m) for m in (x, y, x * x, y * y, x * y))  # (H-10, W-10)
        var_x, var_y, cov = mxx - mx * mx, myy - my * my, mxy - mx * my
        ssim = (2 * mx * my + c1) * (2 * cov + c2) / ((mx * mx + my * my + c1) * (var_x + var_y + c2))
        total += ssim.mean()
    return total / 3


def ssim_frames(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The paper's SSIM per frame: uint8 (n, T, H, W, 3) pairs -> (n, T) float64 (1 = identical)."""
    check_frame_pair(a, b, "ssim", min_size=len(SSIM_WINDOW))
    fa, fb = _flat(a), _flat(b)
    return np.array([_ssim_frame(x, y) for x, y in zip(fa, fb, strict=True)]).reshape(a.shape[:2])


def _sse_chunk(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact sum of squared uint8 differences per frame: (B, H, W, 3) -> (B,) int64."""
    d = (a.astype(np.int16) - b).astype(np.int32)  # (B, H, W, 3), |d| <= 255
    d *= d  # <= 65025
    return d.reshape(len(d), -1).sum(axis=1, dtype=np.int64)


def psnr_frames(a: np.ndarray, b: np.ndarray, chunk: int = 64) -> np.ndarray:
    """The paper's PSNR per frame in dB: uint8 (n, T, H, W, 3) pairs -> (n, T) float64, 100 where identical."""
    check_frame_pair(a, b, "psnr")
    fa, fb = _flat(a), _flat(b)
    sse = np.concatenate([_sse_chunk(fa[i : i + chunk], fb[i : i + chunk]) for i in range(0, len(fa), chunk)])
    mse = sse.astype(np.float64) / (255.0**2 * np.prod(a.shape[2:]))  # over C×H×W of [0, 1] frames
    with np.errstate(divide="ignore"):
        psnr = 10.0 * np.log10(1.0 / mse)
    return np.where(mse < PSNR_MIN_MSE, PSNR_CAP, psnr).reshape(a.shape[:2])
