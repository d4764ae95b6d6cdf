"""SSIM / PSNR / LPIPS seconds per 32-frame 256² video on one CPU core, against straightforward references.

References, measured in the same run on the same frames:
- SSIM: per frame and per channel, float64, ``scipy.ndimage.gaussian_filter(σ = 1.5, truncate = 3.5)`` (the
  same normalised 11-tap Gaussian, separable, in C) for the five moments, crop 5 px, mean (SPEC_COMBINATORIAL
  C.3); and torchmetrics' float64 call of the contract (full map cropped), timed on a few frames only and
  scaled to 32 (it takes about a minute per video).
- PSNR: per frame, float64 ``np.mean((a/255 - b/255)**2)``, 10·log10(1/MSE), the 100-dB cap.
- LPIPS has no reference here (lpips 0.1.4 needs torchvision); it runs with the real AlexNet trunk when
  ``evaluate.weights`` finds it, else with a random one (same cost; the output says which).

Times are process CPU time with ``torch.set_num_threads(1)``, best of ``--repeat``.

    .venv/bin/python benchmarks/video_metrics.py [--videos 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from phylaw.evaluate import weights
from phylaw.evaluate.image_metrics import psnr_frames, ssim_frames
from phylaw.evaluate.lpips import AlexNetTrunk, load_lpips, lpips_frames

T, SIZE = 32, 256


def reference_ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per frame, per channel float64 SSIM with scipy's Gaussian filter, cropped 5 px: (n, T, H, W, 3) -> (n, T)."""
    out = np.zeros(a.shape[:2])
    f = lambda z: ndimage.gaussian_filter(z, 1.5, truncate=3.5)[5:-5, 5:-5]  # noqa: E731
    for i, t in np.ndindex(*a.shape[:2]):
        vals = []
        for c in range(3):
            x, y = a[i, t, ..., c] / 255.0, b[i, t, ..., c] / 255.0
            mx, my = f(x), f(y)
            sxx, syy, sxy = f(x * x) - mx**2, f(y * y) - my**2, f(x * y) - mx * my
            m = (2 * mx * my + 1e-4) * (2 * sxy + 9e-4) / ((mx**2 + my**2 + 1e-4) * (sxx + syy + 9e-4))
            vals.append(m.mean())
        out[i, t] = np.mean(vals)
    return out


def reference_psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros(a.shape[:2])
    for i, t in np.ndindex(*a.shape[:2]):
        mse = np.mean((a[i, t] / 255.0 - b[i, t] / 255.0) ** 2)
        out[i, t] = 100.0 if mse < 1e-10 else 10 * np.log10(1 / mse)
    return out


def torchmetrics_ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The contract's call: torchmetrics float64, full map cropped [5:-5, 5:-5]: (k, H, W, 3) -> (k,)."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    x = torch.from_numpy(a).permute(0, 3, 1, 2).double() / 255
    y = torch.from_numpy(b).permute(0, 3, 1, 2).double() / 255
    _, full = structural_similarity_index_measure(
        x, y, gaussian_kernel=True, sigma=1.5, data_range=1.0, k1=0.01, k2=0.03,
        reduction="none", return_full_image=True,
    )  # fmt: skip
    return full[..., 5:-5, 5:-5].mean(dim=(1, 2, 3)).numpy()


def videos(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random 'ground truth' and a noisy, shifted 'generation' of it: uint8 (n, T, 256, 256, 3)."""
    rng = np.random.default_rng(seed)
    gt = ndimage.gaussian_filter(rng.normal(size=(n, T, SIZE, SIZE, 3)), (0, 1, 4, 4, 0)) * 400 + 128
    gen = np.roll(gt, 2, axis=3) + rng.normal(0, 8, gt.shape)
    return np.clip(gt, 0, 255).astype(np.uint8), np.clip(gen, 0, 255).astype(np.uint8)


def best_cpu(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def lpips_model(tmp: Path):
    if weights.available("alexnet") is None:
        return load_lpips(), "real AlexNet trunk"
    torch.manual_seed(0)
    path = tmp / "random_alexnet.pth"
    torch.save(AlexNetTrunk().state_dict(), path)
    return load_lpips(path), "RANDOM AlexNet trunk (real weights not found; values meaningless, timing valid)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--torchmetrics-frames", type=int, default=2, help="frames timed for the torchmetrics row"
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    a, b = videos(args.videos)
    n, k = args.videos, args.torchmetrics_frames
    rows = []
    t_ssim, ssim = best_cpu(lambda: ssim_frames(a, b), args.repeat)
    t_ref, ssim_ref = best_cpu(lambda: reference_ssim(a, b), args.repeat)
    t_tm, ssim_tm = best_cpu(lambda: torchmetrics_ssim(a[0, :k], b[0, :k]), 1)
    rows += [
        (
            "SSIM",
            "phylaw (per channel, scipy separable valid filter)",
            t_ssim / n,
            np.abs(ssim - ssim_ref).max(),
        )
    ]
    rows += [("SSIM", "reference scipy gaussian_filter per frame", t_ref / n, 0.0)]
    rows += [
        (
            "SSIM",
            f"torchmetrics float64 ({k} frames x {T // k})",
            t_tm * T / k,
            np.abs(ssim_tm - ssim[0, :k]).max(),
        )
    ]
    t_psnr, psnr = best_cpu(lambda: psnr_frames(a, b), args.repeat)
    t_pref, psnr_ref = best_cpu(lambda: reference_psnr(a, b), args.repeat)
    rows += [("PSNR", "phylaw (integer SSE)", t_psnr / n, np.abs(psnr - psnr_ref).max())]
    rows += [("PSNR", "reference numpy float64 per frame", t_pref / n, 0.0)]
    with tempfile.TemporaryDirectory() as tmp:
        model, which = lpips_model(Path(tmp))
        t_lp, lp = best_cpu(lambda: lpips_frames(a, b, model), args.repeat)
    rows += [("LPIPS", f"phylaw, {which}", t_lp / n, float("nan"))]
    print(f"{n} videos of {T} frames {SIZE}x{SIZE}, one core (CPU time, best of {args.repeat})")
    print(f"{'metric':6} {'implementation':58} {'s/video':>8} {'max |diff|':>11}")
    for metric, impl, sec, diff in rows:
        print(f"{metric:6} {impl:58} {sec:8.3f} {diff:11.1e}")
    print(f"ratios: SSIM reference/phylaw {t_ref / t_ssim:.2f}x, torchmetrics/phylaw "
          f"{t_tm * T / k * n / t_ssim:.1f}x; PSNR reference/phylaw {t_pref / t_psnr:.1f}x")  # fmt: skip
    print(f"mean over frames: SSIM {ssim.mean():.4f}, PSNR {psnr.mean():.2f} dB, LPIPS {lp.mean():.4f}")


if __name__ == "__main__":
    main()
