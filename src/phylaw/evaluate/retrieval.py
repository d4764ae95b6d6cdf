"""Case-based retrieval: which training videos a generated video resembles, and whether it followed them or the law.

For every generated video, the nearest training videos by

* its **conditioning frames** (``kind="frames"``): the first c frames, area-averaged to ``feature_res`` px,
  as "ink" 1 − RGB/255 per channel (white background = 0, red and blue balls differ), PCA-reduced to
  ``n_components`` dimensions (fitted on ``fit_rows`` seeded training rows), and
* its **true parameters** (``kind="params"``): the generating parameters, each divided by the training set's
  range of that parameter,

each through a k-d tree over all training videos (``scipy.spatial.cKDTree``, exact nearest neighbours; built
once, O(N log N), queried in O(log N) per video), never a scan per query.

**Case vs law.** A generation's continuation (its parsed trajectory over the generated frames, t >= c) is compared with two
references: the law (the simulator's continuation of the same video) and the case (the true continuation of
its nearest training video). ``d(a, b)`` is the mean over objects and generated frames where the generated
object is detected of the difference of the mean velocities since the last conditioning frame,
|(a_t − a_{c−1}) − (b_t − b_{c−1})| / ((t − c + 1) dt) (``continuation_distance``). The
**case-vs-law index** of a set of videos is the fraction with d(gen, case) < d(gen, law), over the videos
whose case and law differ (d(case, law) >= ``min_separation``): 1 = it copied its cases, 0 = it followed the
law; on ground-truth frames (the floor) it is 0 up to the parser's noise.

Cost for N training videos (measured in docs/studies.md): features render c frames per video from the stored
states (no frame is read back from disk) and take one PCA projection; the index holds N x n_components float32
features plus the tree (~ 2 x that in float64), e.g. 3M x 16 -> 0.2 GB of features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from phylaw.errors import PhylawError
from phylaw.seeding import child_rng

KINDS = ("frames", "params")
FEATURE_RES = 16
N_COMPONENTS = 16
FIT_ROWS = 4096
BLOCK = 2048  # training videos per feature block
MIN_SEPARATION = 0.2  # world units / s: case and law must differ by this much for a video to count


@dataclass(frozen=True, eq=False)
class TrainIndex:
    """A nearest-neighbour index over a training set.

    features (N, d) float32 of every training video; ``mean`` (D,) and ``basis`` (D, d) the PCA of the frame
    features (kind "frames"), ``scale`` (P,) the per-parameter ranges (kind "params"). ``resolution``,
    ``cond_frames``, ``scenario`` and ``n_frames`` say which queries it accepts (:meth:`check_query`).
    """

    kind: str
    scenario: str
    resolution: int
    n_frames: int
    cond_frames: int
    features: np.ndarray
    mean: np.ndarray | None = None
    basis: np.ndarray | None = None
    scale: np.ndarray | None = None
    feature_res: int = FEATURE_RES

    def __post_init__(self) -> None:
        from scipy.spatial import cKDTree

        object.__setattr__(self, "tree", cKDTree(self.features))

    def __len__(self) -> int:
        return len(self.features)

    def project(self, raw: np.ndarray) -> np.ndarray:
        """Raw query features (frame features (m, D) or parameters (m, P)) -> index space (m, d)."""
        raw = np.asarray(raw, np.float64)
        if self.kind == "frames":
            return ((raw - self.mean) @ self.basis).astype(np.float32)
        return (raw / self.scale).astype(np.float32)

    def query(self, raw: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(distances (m, k), training rows (m, k)) of the k nearest training videos of each query."""
        if not 1 <= k <= len(self):
            raise PhylawError(f"k must lie in 1..{len(self)} (the training set's size), got {k}")
        dist, idx = self.tree.query(self.project(raw), k=k)
        return np.asarray(dist).reshape(-1, k), np.asarray(idx, np.int64).reshape(-1, k)

    def check_query(self, scenario: str, resolution: int | None, what: str) -> None:
        """One-line PhylawError when ``what`` (generated videos) cannot be compared with this training set."""
        if scenario != self.scenario:
            raise PhylawError(
                f"{what} show {scenario} videos but the training set holds {self.scenario} videos"
            )
        if self.kind == "frames" and resolution is not None and int(resolution) != self.resolution:
            raise PhylawError(
                f"{what} are {resolution} px but the training set's frames are {self.resolution} px; "
                "retrieve against a training set of the same resolution"
            )


def frame_features(frames: np.ndarray, feature_res: int = FEATURE_RES) -> np.ndarray:
    """(n, c, H, W, 3) uint8 conditioning frames -> (n, c * f * f * 3) float32 ink features (f = feature_res),
    each pixel the mean of an (H / f)^2 block of 1 − value / 255 (H must be a multiple of f)."""
    frames = np.asarray(frames)
    if frames.ndim != 5 or frames.shape[-1] != 3:
        raise PhylawError(f"conditioning frames must be (n, c, H, W, 3), got shape {frames.shape}")
    n, c, h, w, _ = frames.shape
    if h != w or h % feature_res:
        raise PhylawError(f"frames of {h}x{w} px cannot be averaged to {feature_res} px features")
    b = h // feature_res
    acc = np.uint16 if b <= 16 else np.uint32  # b * b * 255 fits
    rows = frames.reshape(n * c * feature_res, b, w * 3).sum(axis=1, dtype=acc)  # (n*c*f, W*3)
    blocks = rows.reshape(n * c * feature_res, feature_res, b, 3).sum(axis=2, dtype=acc)  # (n*c*f, f, 3)
    ink = 1.0 - blocks.astype(np.float32) / np.float32(255 * b * b)
    return ink.reshape(n, -1)


def _cond_frames(ds, start: int, stop: int, cond_frames: int) -> np.ndarray:
    """(n, c, H, W, 3) conditioning frames of training rows [start, stop), rendered from their states at the
    dataset's resolution (the same bytes as stored frames, docs/formats.md)."""
    from phylaw.render import render

    convention = getattr(getattr(ds, "config", None), "pixel_convention", "centre")
    states = ds.trajectories(slice(start, stop))
    return render(states, ds.resolution, frames=slice(0, cond_frames), pixel_convention=convention)


def _pca(x: np.ndarray, n_components: int | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and the top principal directions (D, d) of rows x (m, D), float64.

    ``n_components`` None (or at least half the rank): exact, from the eigenvectors of the smaller of
    X Xᵀ / Xᵀ X, every direction with a non-zero variance; otherwise a randomized subspace iteration (Halko et
    al.: oversampling 10, 4 power iterations, Gaussian start from ``rng``), O(m D d) instead of O(m D²)."""
    mean = x.mean(axis=0)
    xc = x - mean
    m, dim = xc.shape
    rank = min(m, dim)
    if n_components is None or 2 * n_components >= rank:
        if m <= dim:
            w, u = np.linalg.eigh(xc @ xc.T)  # (m,), (m, m) ascending
            keep = w > w.max() * 1e-10
            basis = (xc.T @ u[:, keep]) / np.sqrt(w[keep])  # (D, r) orthonormal
        else:
            w, v = np.linalg.eigh(xc.T @ xc)
            keep = w > w.max() * 1e-10
            basis = v[:, keep]
        basis = basis[:, ::-1][:, : n_components or basis.shape[1]]
    else:
        q = xc.T @ rng.standard_normal((m, n_components + 10))  # (D, d + p)
        for _ in range(4):
            q, _ = np.linalg.qr(q)
            q, _ = np.linalg.qr(xc.T @ (xc @ q))
        _, _, vt = np.linalg.svd(xc @ q, full_matrices=False)  # (d + p, d + p)
        basis = q @ vt.T[:, :n_components]  # (D, d)
    # a fixed sign per direction (its largest |entry| positive): the same basis on every machine
    flip = np.sign(basis[np.abs(basis).argmax(axis=0), np.arange(basis.shape[1])])
    return mean, basis * np.where(flip == 0, 1.0, flip)


def build_frame_index(
    ds,
    cond_frames: int,
    *,
    feature_res: int = FEATURE_RES,
    n_components: int | None = N_COMPONENTS,
    fit_rows: int = FIT_ROWS,
    seed: int = 0,
    block: int = BLOCK,
) -> TrainIndex:
    """The conditioning-frame index of an opened training dataset (``n_components`` None: every direction the
    fitting rows span, so distances in the index equal distances between the raw features of those rows)."""
    n = len(ds)
    if n < 1:
        raise PhylawError("the training set is empty")
    if ds.n_frames < cond_frames + 2:
        raise PhylawError(f"training videos have {ds.n_frames} frames: too few to continue c = {cond_frames}")
    rows = np.sort(child_rng(seed, "retrieval-pca").choice(n, size=min(fit_rows, n), replace=False))
    fit = _fit_features(ds, rows, cond_frames, feature_res)  # (m, D)
    d = None if n_components is None else min(int(n_components), fit.shape[1], len(fit))
    mean, basis = _pca(fit.astype(np.float64), d, child_rng(seed, "retrieval-pca-start"))
    feats = np.empty((n, basis.shape[1]), np.float32)
    for a in range(0, n, block):
        raw = frame_features(_cond_frames(ds, a, min(n, a + block), cond_frames), feature_res)
        feats[a : a + len(raw)] = ((raw - mean) @ basis).astype(np.float32)
    return TrainIndex("frames", ds.scenario, int(ds.resolution), int(ds.n_frames), int(cond_frames), feats,
                      mean=mean, basis=basis, feature_res=feature_res)  # fmt: skip


def _fit_features(ds, rows: np.ndarray, cond_frames: int, feature_res: int) -> np.ndarray:
    """Frame features of the (sorted) fitting rows, rendered in contiguous runs."""
    from phylaw.render import render

    convention = getattr(getattr(ds, "config", None), "pixel_convention", "centre")
    out = []
    for a in range(0, len(rows), BLOCK):
        states = ds.trajectories(rows[a : a + BLOCK])
        frames = render(states, ds.resolution, frames=slice(0, cond_frames), pixel_convention=convention)
        out.append(frame_features(frames, feature_res))
    return np.concatenate(out)


def build_param_index(ds, cond_frames: int) -> TrainIndex:
    """The true-parameter index of an opened training dataset (parameters scaled by their ranges)."""
    params = np.asarray(ds.params, np.float64)  # (N, P)
    if not len(params):
        raise PhylawError("the training set is empty")
    span = params.max(axis=0) - params.min(axis=0)
    scale = np.where(span > 0, span, 1.0)
    return TrainIndex("params", ds.scenario, int(ds.resolution), int(ds.n_frames), int(cond_frames),
                      (params / scale).astype(np.float32), scale=scale)  # fmt: skip


def build_index(ds, kind: str, cond_frames: int, **kw) -> TrainIndex:
    if kind not in KINDS:
        raise PhylawError(f"unknown retrieval kind {kind!r}; choose one of {', '.join(KINDS)}")
    return (
        build_frame_index(ds, cond_frames, **kw) if kind == "frames" else build_param_index(ds, cond_frames)
    )


# ----------------------------------------------------------------------------------------------- case vs law
def continuation_distance(
    pos_a: np.ndarray, pos_b: np.ndarray, usable: np.ndarray, dt: float, cond_frames: int
) -> np.ndarray:
    """(n,) mean over objects and generated frames t >= c (where ``usable`` (n, T, K)) of the difference of the
    mean velocities since the last conditioning frame, |(a_t − a_{c−1}) − (b_t − b_{c−1})| / ((t − c + 1) dt),
    positions (n, T, K, 2); NaN where no frame is usable. (A per-frame finite difference would carry the
    parser's pixel noise at full weight; a displacement over k frames divides it by k.)"""
    c = int(cond_frames)
    da = pos_a[:, c:] - pos_a[:, c - 1 : c]  # (n, T-c, K, 2)
    db = pos_b[:, c:] - pos_b[:, c - 1 : c]
    elapsed = (np.arange(1, da.shape[1] + 1) * dt)[None, :, None]  # (1, T-c, 1)
    err = np.linalg.norm(da - db, axis=-1) / elapsed  # (n, T-c, K)
    mask = usable[:, c:] & np.isfinite(err)
    count = mask.sum(axis=(1, 2))
    total = np.where(mask, err, 0.0).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def case_law(
    gen_pos: np.ndarray,
    gen_detected: np.ndarray,
    law_pos: np.ndarray,
    case_pos: np.ndarray,
    dt: float,
    cond_frames: int,
    min_separation: float = MIN_SEPARATION,
) -> pd.DataFrame:
    """Per video: d_law = d(gen, law), d_case = d(gen, case), d_case_law = d(case, law) (over the generated
    frames where the generated objects are detected, and detected in the last conditioning frame),
    ``informative`` (d_case_law >= min_separation) and ``closer_to_case`` (d_case < d_law). Positions
    (n, T, K, 2), compared over their common frames; gen_detected (n, T, K)."""
    t = min(gen_pos.shape[1], law_pos.shape[1], case_pos.shape[1])
    c = int(cond_frames)
    if t < c + 1:
        raise PhylawError(f"videos of {t} common frames have no frame after the {c} conditioning frames")
    g, law, case = gen_pos[:, :t], law_pos[:, :t], case_pos[:, :t]
    det = np.asarray(gen_detected[:, :t], bool)
    usable = det & det[:, c - 1 : c]  # (n, T, K)
    d_law = continuation_distance(g, law, usable, dt, c)
    d_case = continuation_distance(g, case, usable, dt, c)
    d_sep = continuation_distance(case, law, usable, dt, c)
    ok = np.isfinite(d_law) & np.isfinite(d_case)
    return pd.DataFrame({
        "d_law": d_law, "d_case": d_case, "d_case_law": d_sep,
        "informative": ok & (d_sep >= min_separation), "closer_to_case": ok & (d_case < d_law),
    })  # fmt: skip


def case_index(table: pd.DataFrame) -> tuple[float, float, float, int]:
    """(index, 95 % Wilson low, high, n): the fraction of informative videos closer to their case."""
    from phylaw.evaluate.studies import wilson_ci

    inf = table["informative"].astype(bool)
    k = int((table["closer_to_case"].astype(bool) & inf).sum())
    n = int(inf.sum())
    p, lo, hi = wilson_ci(k, n)
    return p, lo, hi, n


def case_table(
    obs, train_ds, index: TrainIndex, *, k: int = 5, min_separation: float = MIN_SEPARATION
) -> pd.DataFrame:
    """Per generated video of ``obs`` (``evaluate.studies.Observed``): its k nearest training rows and
    distances in ``index``, and the case-vs-law comparison (``case_law``) against its nearest training video,
    for the generated frames and (``floor_*``) for the ground-truth frames of the same video."""
    index.check_query(obs.scenario, obs.resolution, "the generated videos")
    if train_ds.scenario != index.scenario or len(train_ds) != len(index):
        raise PhylawError("the index was not built from this training set")
    raw = obs.features if index.kind == "frames" else obs.params
    if index.kind == "frames" and raw.shape[1] != index.mean.shape[0]:
        raise PhylawError(
            f"query features have {raw.shape[1]} values, the index {index.mean.shape[0]}: another feature_res?"
        )
    dist, nn = index.query(raw, min(k, len(index)))
    uniq, inv = np.unique(nn[:, 0], return_inverse=True)
    case = train_ds.trajectories(uniq).position[inv.reshape(-1)]  # (n, T_train, K, 2)
    gen = case_law(obs.gen, obs.gen_detected, obs.truth, case, obs.dt, obs.cond_frames, min_separation)
    flo = case_law(obs.floor, obs.floor_detected, obs.truth, case, obs.dt, obs.cond_frames, min_separation)
    out = pd.DataFrame({"index": obs.index, "split": obs.split, "level": obs.level})
    for j in range(nn.shape[1]):
        out[f"nn_{j}"], out[f"dist_{j}"] = nn[:, j], dist[:, j]
    out = pd.concat([out, gen, flo.add_prefix("floor_")], axis=1)
    out.insert(3, "kind", index.kind)
    return out


def case_rows(table: pd.DataFrame) -> list[dict]:
    """Case-vs-law index rows (``case_index_<kind>``) per level and pooled per split, beside the floor's
    (ground-truth frames), over the videos informative for both."""
    from phylaw.evaluate.studies import rate_row

    kind = str(table["kind"].iloc[0]) if len(table) else "frames"
    rows = []
    valid = (table["informative"] & table["floor_informative"]).to_numpy(bool)
    hit, fhit = table["closer_to_case"].to_numpy(bool), table["floor_closer_to_case"].to_numpy(bool)
    for split in sorted(set(table["split"])):
        s = (table["split"] == split).to_numpy()
        levels = sorted(set(table.loc[s, "level"]))
        for level in levels:
            m = s & (table["level"] == level).to_numpy()
            rows.append(rate_row(split, level, f"case_index_{kind}", hit, fhit, valid & m))
        rows.append(rate_row(split, "pooled", f"case_index_{kind}", hit, fhit, valid & s))
    return rows


# ----------------------------------------------------------------------------------------------- cache
def save_index(index: TrainIndex, path) -> None:
    """Write the index's arrays (the tree is rebuilt on load: O(N log N), seconds for millions)."""
    from phylaw.io import atomic_path

    meta = np.array([index.kind, index.scenario, str(index.resolution), str(index.n_frames),
                     str(index.cond_frames), str(index.feature_res)])  # fmt: skip
    arrays = {k: v for k in ("mean", "basis", "scale") if (v := getattr(index, k)) is not None}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, meta=meta, features=index.features, **arrays)


def load_index(path) -> TrainIndex:
    with np.load(path, allow_pickle=False) as z:
        kind, scenario, res, t, c, fres = z["meta"].tolist()
        extra = {k: z[k] for k in ("mean", "basis", "scale") if k in z}
        return TrainIndex(kind, scenario, int(res), int(t), int(c), z["features"], feature_res=int(fres), **extra)
