"""FVD cost on one CPU core: I3D feature extraction per 32-frame 256² video, and the Fréchet distance of
m = 500 / 600 videos (the paper's counts) against a ``scipy.linalg.sqrtm`` baseline in the same run.

    python benchmarks/fvd_features.py                 # 2 videos, both feature models
    python benchmarks/fvd_features.py --videos 1      # quicker
    python benchmarks/fvd_features.py --device cuda   # the I3D part on a GPU (the Fréchet part stays on CPU)

The detector is the real I3D where ``weights.resolve("i3d")`` finds it (``--i3d-weights``, ``$PHYLAW_I3D_WEIGHTS``),
else phylaw's I3D with random weights (same architecture and cost; the output says which). Features of the
Fréchet part are synthetic 400-d Gaussians: "full rank" (a decaying spectrum) and "near singular" (rank 50
plus 1e-4 noise), gen and ref drawn with different covariances. The baseline is phyworld's formula
tr(Σ1 + Σ2 − 2·sqrtm(Σ1Σ2)) with the real part; the difference column is ours − baseline.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy / torch are imported
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import time
import warnings

import numpy as np
import scipy.linalg
import torch

from phylaw.evaluate import fvd as fv
from phylaw.evaluate import weights
from phylaw.evaluate.i3d import I3D


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def detector(path: str | None, device: str) -> tuple[fv.Detector, str]:
    missing = weights.available("i3d", {"i3d": path})
    if missing is None:
        det = fv.load_detector(overrides={"i3d": path}, device=device)
        return det, f"real weights ({det.source})"
    torch.manual_seed(0)
    det = fv.Detector(I3D(), "random-init I3D", torchscript=False, device=device)
    return det, "RANDOM weights (no i3d_torchscript.pt / i3d_pretrained_400.pt found; timing only)"


def bench_features(n_videos: int, path: str | None, device: str) -> None:
    det, what = detector(path, device)
    frames = np.random.default_rng(0).integers(0, 256, size=(n_videos, 32, 256, 256, 3), dtype=np.uint8)
    det.features(frames[:1, :10])  # warm-up (allocator, oneDNN / cuDNN kernels)
    sync = torch.cuda.synchronize if det.device.type == "cuda" else (lambda: None)
    t_pre = best_of(lambda: fv.preprocess(frames), 1) / n_videos

    def run() -> None:
        det.features(frames)
        sync()

    t_all = best_of(run, 1) / n_videos
    threads = torch.get_num_threads()
    print(f"I3D features, {what}, device {det.device}, torch threads {threads}:")
    print(
        f"  {t_all:8.3f} s per 32-frame 256² video ({n_videos} videos), of which preprocessing {t_pre:.3f} s"
    )


def features(rng: np.random.Generator, m: int, rank: int, noise: float, d: int = 400) -> np.ndarray:
    spectrum = 10.0 * np.exp(-np.arange(rank) / (rank / 8))  # decaying, like logits of similar videos
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0][:rank]  # (rank, d) orthonormal rows
    return (
        (rng.normal(size=(m, rank)) * spectrum) @ basis + noise * rng.normal(size=(m, d)) + rng.normal(size=d)
    )


def scipy_fvd(gen: np.ndarray, ref: np.ndarray) -> float:
    (mu1, c1), (mu2, c2) = fv.gaussian_stats(gen), fv.gaussian_stats(ref)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sqrtm's singular-matrix / deprecation notices
        root = scipy.linalg.sqrtm(c1 @ c2)
    return float(np.real(((mu1 - mu2) ** 2).sum() + np.trace(c1 + c2 - 2 * root)))


def bench_frechet(repeats: int) -> None:
    print("Fréchet distance, d = 400, float64, one core (best of", repeats, "runs; stats included):")
    print(
        f"  {'features':<13} {'m':>4} {'phylaw s':>9} {'sqrtm s':>9} {'speed-up':>8} {'FVD phylaw':>16} {'diff':>10}"
    )
    rng = np.random.default_rng(1)
    for label, rank, noise in (("full rank", 400, 0.0), ("near singular", 50, 1e-4)):
        for m in (500, 600):
            gen, ref = features(rng, m, rank, noise), features(rng, m, rank, noise)
            ours, base = fv.fvd(gen, ref), scipy_fvd(gen, ref)
            t_ours = best_of(lambda g=gen, r=ref: fv.fvd(g, r), repeats)
            t_base = best_of(lambda g=gen, r=ref: scipy_fvd(g, r), repeats)
            print(
                f"  {label:<13} {m:>4} {t_ours:>9.4f} {t_base:>9.4f} {t_base / t_ours:>7.1f}x "
                f"{ours:>16.6f} {ours - base:>10.2e}"
            )
        same = fv.fvd(gen, gen), scipy_fvd(gen, gen)
        print(f"  {label:<13} identical sets (m = 600): phylaw {same[0]:.2e}, sqrtm {same[1]:.2e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=2, help="videos timed for the features")
    ap.add_argument("--repeats", type=int, default=3, help="runs per Fréchet timing (best kept)")
    ap.add_argument("--i3d-weights", default=None, help="path of i3d_torchscript.pt or i3d_pretrained_400.pt")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-features", action="store_true")
    args = ap.parse_args()
    if args.device == "cpu":
        torch.set_num_threads(1)
    if not args.skip_features:
        bench_features(args.videos, args.i3d_weights, args.device)
    bench_frechet(args.repeats)


if __name__ == "__main__":
    main()
