"""Fréchet Video Distance: I3D features of videos, Gaussian fits, the Fréchet distance between them.

The paper's FVD (SPEC_COMBINATORIAL C.1) is phyworld's call of StyleGAN-V's TorchScript I3D through
common_metrics: each video is resized bilinearly (align_corners=False, no antialias) so its short side is 224,
centre-cropped to 224², mapped from [0, 1] to [−1, 1], embedded in batches of 10 as the 400 pre-softmax
Kinetics logits averaged over time; the two sets of features are fitted with Gaussians (mean, **unbiased
N − 1** covariance as ``np.cov``; StyleGAN-V's own code uses N, ``ddof=0``) and compared with the Fréchet
distance ‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1Σ2)^½).

Two weight files give that detector (``weights.resolve("i3d")``): StyleGAN-V's ``i3d_torchscript.pt``, called
``m(x, rescale=False, resize=False, return_features=True)``, or the PyTorch-I3D state dict
(``i3d_pretrained_400.pt``) loaded strictly into phylaw's own ``i3d.I3D``. Any other file is a PhylawError
naming it; no file is ``WeightsMissing``.

The square-root term is computed in float64 as tr √(Σ1Σ2) = Σ √λᵢ over the eigenvalues of the symmetric
positive semi-definite √Σ1 Σ2 √Σ1, i.e. the sum of the singular values of √Σ1 √Σ2 (square roots by symmetric
eigendecompositions, eigenvalues clipped at 0), never with ``scipy.linalg.sqrtm``, whose results changed
between SciPy releases and lose accuracy on the near-singular covariances that 400-dimensional features of a
few hundred videos give (rank ≤ m − 1).

The release's JSON reports FVD over clip prefixes (frames [:k] for k = 10 … T): ``prefix_lengths``,
``Detector.prefix_features`` and ``fvd_prefixes``. In the evaluator FVD is a set metric: ``fvd_statistics``
gives the per-video (features of the video, of its ground truth) rows and ``fvd_compute`` the value per set.
"""

from __future__ import annotations

import math
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from phylaw.errors import PhylawError
from phylaw.evaluate import weights
from phylaw.evaluate.i3d import BN_EPS, I3D

RESOLUTION = 224  # I3D input side
BATCH_SIZE = 10  # videos per detector call, as common_metrics
FEATURE_DIM = 400
MIN_VIDEOS = 2  # a covariance needs two videos
MIN_PREFIX = 10  # common_metrics' shortest clip
DETECTOR_KWARGS = {"rescale": False, "resize": False, "return_features": True}


# ------------------------------------------------------------------ the Fréchet distance


def sqrt_psd(cov: np.ndarray) -> np.ndarray:
    """Symmetric square root of a covariance (d, d) by ``eigh``, negative (round-off) eigenvalues clipped at 0."""
    w, u = np.linalg.eigh((cov + cov.T) / 2)
    return (u * np.sqrt(np.clip(w, 0.0, None))) @ u.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2 tr √(Σ1Σ2) in float64.

    tr √(Σ1Σ2) = Σ √λ(√Σ1 Σ2 √Σ1) = Σ σ(√Σ1 √Σ2): the eigenvalues of √Σ1 Σ2 √Σ1 are the squared singular
    values of √Σ1 √Σ2, and the singular values are taken directly (SVD) rather than as √ of eigenvalues, which
    turns round-off ε·λmax in the zero eigenvalues of a near-singular covariance into √(ε·λmax) each (FVD of
    identical rank-deficient sets: relative error ~1e-7 through ``eigvalsh``, ~1e-15 this way). The result is
    not clipped at 0."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, np.float64)), np.atleast_2d(np.asarray(cov2, np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or cov1.shape != (d, d) or cov2.shape != (d, d):
        raise PhylawError(
            f"Fréchet distance needs means (d,) and covariances (d, d) of one d, got {mu1.shape}, "
            f"{cov1.shape}, {mu2.shape}, {cov2.shape}"
        )
    trace_sqrt = np.linalg.svd(sqrt_psd(cov1) @ sqrt_psd(cov2), compute_uv=False).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_sqrt)


def gaussian_stats(x: np.ndarray, ddof: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and covariance (d, d) of features (m, d) in float64; ``ddof=1``: unbiased (m − 1), as
    phyworld / common_metrics (``np.cov``); ``ddof=0``: m, as StyleGAN-V. PhylawError for m < 2."""
    x = np.asarray(x, np.float64)
    if x.ndim != 2:
        raise PhylawError(f"features must be (videos, dims), got shape {x.shape}")
    if x.shape[0] < MIN_VIDEOS:
        raise PhylawError(f"a set metric needs at least {MIN_VIDEOS} videos, got {x.shape[0]}")
    if ddof not in (0, 1):
        raise PhylawError(f"ddof must be 0 (StyleGAN-V) or 1 (phyworld), got {ddof!r}")
    if not np.isfinite(x).all():
        raise PhylawError(f"features contain {int((~np.isfinite(x)).sum())} non-finite values")
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False, ddof=ddof))


def fvd(gen: np.ndarray, ref: np.ndarray, ddof: int = 1) -> float:
    """FVD between feature sets gen (m, d) and ref (m', d): the Fréchet distance of their Gaussian fits.

    With fewer videos than feature dimensions (min(m, m') < d, e.g. a bootstrap of a small set) the same
    distance is computed in video space, exactly: with A = (X − μ)/√(m − ddof), Σ = AᵀA, so tr Σ = ‖A‖²_F and
    tr √(Σ1Σ2) = ‖A1 A2ᵀ‖_* (the nonzero eigenvalues of Σ1Σ2 are those of (A1A2ᵀ)ᵀ(A1A2ᵀ)): one (m × m')
    SVD instead of three (d × d) factorisations."""
    gen, ref = np.asarray(gen), np.asarray(ref)
    if gen.ndim != 2 or ref.ndim != 2 or gen.shape[1] != ref.shape[1]:
        raise PhylawError(f"FVD needs features (m, d) of one d, got {gen.shape} and {ref.shape}")
    mu1, cov1 = gaussian_stats(gen, ddof)  # checks m, ddof and finiteness
    mu2, cov2 = gaussian_stats(ref, ddof)
    if min(len(gen), len(ref)) >= gen.shape[1]:
        return frechet_distance(mu1, cov1, mu2, cov2)
    a1 = (np.asarray(gen, np.float64) - mu1) / np.sqrt(len(gen) - ddof)
    a2 = (np.asarray(ref, np.float64) - mu2) / np.sqrt(len(ref) - ddof)
    trace_sqrt = np.linalg.svd(a1 @ a2.T, compute_uv=False).sum()
    diff = mu1 - mu2
    return float(diff @ diff + (a1 * a1).sum() + (a2 * a2).sum() - 2.0 * trace_sqrt)


# ------------------------------------------------------------------ preprocessing and the detector


def preprocess(frames: np.ndarray, resolution: int = RESOLUTION) -> torch.Tensor:
    """uint8 (n, T, H, W, 3) → float32 (n, 3, T, 224, 224) in [−1, 1], as phyworld's common_metrics: /255,
    bilinear resize (align_corners=False, no antialias) of the short side to 224 (long side rounded up),
    centre crop, (x − 0.5)·2."""
    frames = _check_frames(frames)
    n, t, h, w, c = frames.shape
    x = torch.from_numpy(frames).float().div_(255.0).reshape(n * t, h, w, c).permute(0, 3, 1, 2)
    scale = resolution / min(h, w)
    size = (resolution, math.ceil(w * scale)) if h < w else (math.ceil(h * scale), resolution)
    if size != (h, w):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=False)
    top, left = (size[0] - resolution) // 2, (size[1] - resolution) // 2
    x = x[:, :, top : top + resolution, left : left + resolution]  # (n·T, 3, 224, 224)
    x = x.reshape(n, t, c, resolution, resolution).permute(0, 2, 1, 3, 4)  # (n, 3, T, 224, 224)
    return ((x - 0.5) * 2.0).contiguous()


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 5 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise PhylawError(f"FVD needs uint8 videos (n, T, H, W, 3), got {frames.dtype} {frames.shape}")
    return frames


def prefix_lengths(n_frames: int, start: int = MIN_PREFIX, step: int = 1) -> tuple[int, ...]:
    """Clip lengths k = start, start + step, … ≤ n_frames of the release's FVD-over-prefixes (frames [:k])."""
    if n_frames < start or start < 1 or step < 1:
        raise PhylawError(f"no clip prefixes from {start} frames by {step} in videos of {n_frames} frames")
    return tuple(range(start, n_frames + 1, step))


class Detector:
    """The FVD feature extractor: a loaded I3D (TorchScript or ``i3d.I3D``) in eval mode on ``device``."""

    def __init__(
        self,
        module: torch.nn.Module,
        source: str,
        torchscript: bool,
        device: str | torch.device = "cpu",
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.module = module.eval().to(device)
        self.source, self.torchscript = source, torchscript
        self.device, self.batch_size = torch.device(device), batch_size

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, 224, 224) in [−1, 1] → (B, d) features (TorchScript: with ``DETECTOR_KWARGS``)."""
        with torch.no_grad():
            try:
                out = self.module(x, **DETECTOR_KWARGS) if self.torchscript else self.module(x)
            except (RuntimeError, TypeError) as exc:
                raise PhylawError(
                    f"I3D detector {self.source} failed on input {tuple(x.shape)}: {_first_line(exc)}"
                ) from exc
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != x.shape[0]:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise PhylawError(f"I3D detector {self.source} returned {got}, expected ({x.shape[0]}, features)")
        return out

    def prefix_features(self, frames: np.ndarray, lengths: Sequence[int]) -> np.ndarray:
        """uint8 (n, T, H, W, 3) → (L, n, d) float64: features of frames[:, :k] for each k in ``lengths``."""
        frames = _check_frames(frames)
        lengths = [int(k) for k in lengths]
        if not lengths or min(lengths) < 1 or max(lengths) > frames.shape[1]:
            raise PhylawError(f"clip lengths {lengths} do not fit videos of {frames.shape[1]} frames")
        out: list[list[np.ndarray]] = [[] for _ in lengths]
        for i in range(0, len(frames), self.batch_size):
            x = preprocess(frames[i : i + self.batch_size]).to(self.device)  # (B, 3, T, 224, 224)
            for j, k in enumerate(lengths):
                out[j].append(self.embed(x[:, :, :k]).double().cpu().numpy())
        return np.stack([np.concatenate(rows) for rows in out])

    def features(self, frames: np.ndarray) -> np.ndarray:
        """uint8 (n, T, H, W, 3) → (n, d) float64 features of the whole videos (d = 400 for I3D)."""
        return self.prefix_features(frames, [np.asarray(frames).shape[1]])[0]


@dataclass(frozen=True)
class PrefixFeatures:
    """Features of the clip prefixes of one set of videos (``prefix_features``)."""

    lengths: tuple[int, ...]  # clip lengths k (frames [:k])
    features: np.ndarray  # (L, n, d) float64


def prefix_features(
    frames: np.ndarray, detector: Detector, lengths: Sequence[int] | None = None
) -> PrefixFeatures:
    """Features of frames[:, :k] for k in ``lengths`` (default ``prefix_lengths(T)``: 10 … T)."""
    lengths = tuple(lengths) if lengths is not None else prefix_lengths(np.asarray(frames).shape[1])
    return PrefixFeatures(lengths, detector.prefix_features(frames, lengths))


def fvd_prefixes(gen: PrefixFeatures, ref: PrefixFeatures, ddof: int = 1) -> dict[int, float]:
    """FVD per clip length k, {k: FVD of frames [:k]}, as the release's JSON (keys = clip lengths)."""
    if gen.lengths != ref.lengths:
        raise PhylawError(f"clip lengths differ: {gen.lengths} vs {ref.lengths}")
    return {k: fvd(g, r, ddof) for k, g, r in zip(gen.lengths, gen.features, ref.features, strict=True)}


# ------------------------------------------------------------------ set-metric helpers (evaluate.registry)


def fvd_statistics(frames: np.ndarray, gt_frames: np.ndarray, detector: Detector) -> np.ndarray:
    """Per-video statistics of the FVD set metric: (n, 2, d), row 0 the video's I3D features, row 1 its
    ground truth's."""
    frames, gt_frames = _check_frames(frames), _check_frames(gt_frames)
    if len(frames) != len(gt_frames):
        raise PhylawError(f"FVD needs one ground truth per video, got {len(frames)} and {len(gt_frames)}")
    return np.stack([detector.features(frames), detector.features(gt_frames)], axis=1)


def fvd_compute(gen: np.ndarray, ref: np.ndarray) -> float:
    """The FVD set metric's value: ``fvd(gen, ref, ddof=1)`` (phyworld's unbiased covariance)."""
    return fvd(gen, ref, ddof=1)


# ------------------------------------------------------------------ loading


def load_detector(
    path: str | Path | None = None,
    overrides: Mapping[str, str | Path | None] | None = None,
    device: str | torch.device = "cpu",
    bn_eps: float = BN_EPS,
) -> Detector:
    """The I3D of FVD from ``path`` (default ``weights.resolve("i3d", overrides)``, WeightsMissing when
    absent): a TorchScript archive (StyleGAN-V's ``i3d_torchscript.pt``) or a PyTorch-I3D state dict loaded
    strictly into ``i3d.I3D(bn_eps=bn_eps)``. A file that is neither: PhylawError naming it."""
    path = Path(path) if path is not None else weights.resolve("i3d", overrides)
    if not path.is_file():
        raise weights.WeightsMissing(weights.get_spec("i3d"), f"{path} does not exist")
    if _is_torchscript(path):
        return Detector(_load_torchscript(path), str(path), torchscript=True, device=device)
    model = I3D(bn_eps=bn_eps)
    _load_state_dict(model, path)
    return Detector(model, str(path), torchscript=False, device=device)


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as z:
            return any(name.endswith("/constants.pkl") for name in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _load_torchscript(path: Path) -> torch.nn.Module:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load's deprecation notice
            module = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError, OSError) as exc:
        raise PhylawError(f"cannot load TorchScript I3D {path}: {_first_line(exc)}") from exc
    schema = getattr(getattr(module, "forward", None), "schema", None)
    if schema is not None:
        names = {a.name for a in schema.arguments}
        missing = [k for k in DETECTOR_KWARGS if k not in names]
        if missing:
            raise PhylawError(
                f"TorchScript {path} is not StyleGAN-V's I3D: its forward takes no {', '.join(missing)}"
            )
    return module


def _load_state_dict(model: I3D, path: Path) -> None:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and EOF errors of a truncated or foreign file
        raise PhylawError(
            f"cannot read I3D weights {path} (truncated or not a torch file): {_first_line(exc)}"
        ) from exc
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PhylawError(f"I3D weights {path} are not a state dict of tensors")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    want = model.state_dict()
    for key in want:  # absent from state dicts saved before torch 0.4.1; unused in eval
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = want[key]
    problem = _state_dict_mismatch(state, want)
    if problem:
        raise PhylawError(f"I3D weights {path} are not the Kinetics-400 PyTorch-I3D layout: {problem}")
    model.load_state_dict(state, strict=True)


def _state_dict_mismatch(state: Mapping[str, torch.Tensor], want: Mapping[str, torch.Tensor]) -> str:
    missing = [k for k in want if k not in state]
    extra = [k for k in state if k not in want]
    shapes = [k for k in want if k in state and state[k].shape != want[k].shape]
    parts = []
    if missing:
        parts.append(f"{len(missing)} keys missing (e.g. {missing[0]})")
    if extra:
        parts.append(f"{len(extra)} unexpected keys (e.g. {extra[0]})")
    if shapes:
        k = shapes[0]
        parts.append(
            f"{len(shapes)} of wrong shape (e.g. {k} {tuple(state[k].shape)}, expected {tuple(want[k].shape)})"
        )
    return "; ".join(parts)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
