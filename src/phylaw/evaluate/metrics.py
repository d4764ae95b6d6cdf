"""Physical-law metrics: pure functions of parsed and true states, one value per video (SPEC I.4).

``build_context`` aligns the parser's per-colour states with the ground-truth objects (object k is parsed
with the palette rule of its true colour) and trims both to the frames they have in common. Each metric then
maps the context to an (n,) float64 array; NaN means "undefined for this video" (e.g. no valid interval or
every frame a parse failure) and is counted, not averaged, by the aggregation.

Velocities are finite differences over one frame gap, v_t = (x_{t+1} − x_t)/dt, for parsed and true positions
alike, so a perfect parse scores exactly 0. An interval t → t+1 is *valid* when t >= c (generated frames), the
true object is fully in view at t and t+1 and, in a scenario with a contact phase (collision), t >=
contact_frame (post-collision; a video without a contact has none). An interval is *scored* when it is valid
and the object is detected in both frames.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from phylaw.errors import PhylawError
from phylaw.evaluate.parse import SHAPE_UNKNOWN, ParsedStates, object_states, object_stats
from phylaw.sim.registry import get_scenario
from phylaw.sim.trajectory import Trajectories

# world/s: what an undetected interval costs in velocity_error_capped. The fastest speed of the testbed's
# evaluation sets (the top of the OOD speed band, sim.ranges._V_OOD) = the error of predicting a ball at rest.
VELOCITY_CAP = 6.0


INPUTS = ("frames", "gt_frames", "parsed", "truth")  # what a metric may declare in ``needs``


@dataclass(frozen=True)
class MetricInputs:
    """What a metric receives: n videos over their T common frames, K true objects.

    The aligned parsed and true states (arrays below) are always there. The raw inputs a metric declares in
    ``Metric.needs`` are passed to it and the others are None (``only``): generated frames and ground-truth
    frames (n, T, H, W, 3) uint8 (both the ground-truth frames when the floor is scored), the parser's
    per-colour ``ParsedStates`` and the true ``Trajectories``.
    """

    scenario: str
    cond_frames: int
    dt: float
    pos_hat: np.ndarray  # (n, T, K, 2) parsed centre, NaN where not detected
    radius_hat: np.ndarray  # (n, T, K)
    shape_hat: np.ndarray  # (n, T, K) int8
    detected: np.ndarray  # (n, T, K) bool
    palette_visible: np.ndarray  # (n, T, P) bool: each palette colour detected somewhere in the frame
    palette_ids: np.ndarray  # (P,) colour id of each palette rule
    pos: np.ndarray  # (n, T, K, 2) true centre
    vel0: np.ndarray  # (n, K, 2) true velocity at frame 0
    radius: np.ndarray  # (n, K) true radius
    color: np.ndarray  # (n, K) true colour id
    shape: np.ndarray  # (n, K) true shape id
    in_view: np.ndarray  # (n, T, K) bool
    contact_frame: np.ndarray  # (n,) int, -1: none
    frames: np.ndarray | None = (
        None  # (n, T, H, W, 3) uint8, the frames scored (generated, or GT for the floor)
    )
    gt_frames: np.ndarray | None = None  # (n, T, H, W, 3) uint8 ground-truth frames at the same resolution
    parsed: ParsedStates | None = None
    truth: Trajectories | None = None

    def only(self, needs: tuple[str, ...]) -> MetricInputs:
        """These inputs with the raw inputs a metric did not declare set to None."""
        return replace(self, **{name: None for name in INPUTS if name not in needs})

    @property
    def n_frames(self) -> int:
        return int(self.pos.shape[1])

    def generated(self) -> np.ndarray:
        """(T,) bool: frames produced by the model (index >= c)."""
        return np.arange(self.n_frames) >= self.cond_frames

    def frame_mask(self) -> np.ndarray:
        """(n, T, K) generated frames where the true object is fully in view."""
        return self.generated()[None, :, None] & self.in_view

    def interval_mask(self, phase: str = "post") -> np.ndarray:
        """(n, T-1, K) valid velocity intervals of a phase.

        In a scenario with a contact phase (collision): "post" is t >= contact_frame and "pre" is
        t + 1 < contact_frame (the interval that straddles the contact belongs to neither); a video without a
        contact (contact_frame -1) has no post-contact interval and every interval is pre-contact. In other
        scenarios every interval is "post" (the scored phase) and none is "pre". "all": both phases and the
        interval that straddles a contact.
        """
        t = np.arange(self.n_frames - 1)[None, :]  # (1, T-1)
        cf = self.contact_frame[:, None]  # (n, 1)
        if has_contact_phase(self.scenario):
            has = cf >= 0
            post = has & (t >= cf)
            pre = ~has | (t + 1 < cf)
        else:
            post = np.ones((len(cf), t.shape[1]), dtype=bool)
            pre = ~post
        phase_ok = {"post": post, "pre": pre, "all": np.ones_like(post)}[phase]
        both = self.in_view[:, :-1] & self.in_view[:, 1:]  # (n, T-1, K)
        return (t >= self.cond_frames)[..., None] & both & phase_ok[..., None]

    def velocities(self) -> tuple[np.ndarray, np.ndarray]:
        """Parsed and true finite-difference velocities, each (n, T-1, K, 2) (NaN where a parse failed)."""
        return np.diff(self.pos_hat, axis=1) / self.dt, np.diff(self.pos, axis=1) / self.dt


def has_contact_phase(scenario: str) -> bool:
    """Whether the scenario's videos split into pre- and post-contact phases (the scenario registry)."""
    return bool(get_scenario(scenario).has_contact_phase)


def _shared_colours(color: np.ndarray, present: np.ndarray) -> list[tuple[int, int]]:
    """(video, colour id) pairs where several present true objects share a colour."""
    out = []
    for v in range(len(color)):
        ids, counts = np.unique(color[v][present[v]], return_counts=True)
        out += [(v, int(c)) for c in ids[counts > 1]]
    return out


def build_context(
    parsed: ParsedStates,
    truth: Trajectories,
    cond_frames: int,
    frames: np.ndarray | None = None,
    gt_frames: np.ndarray | None = None,
) -> MetricInputs:
    """Align parsed states (n, T_p, P) with true states (n, T_t, K) over T = min(T_p, T_t) frames; the frames
    (n, T_f, H, W, 3), when given, are trimmed to the same T.

    Object k is parsed with the palette rule of its true colour. A colour with one (present) true object in a
    video keeps that rule's whole-mask moments; a colour with several is split into 8-connected components
    matched to its true objects (``parse.object_stats``), which needs ``frames``. Absent (padding) slots are
    never in view."""
    t = min(parsed.n_frames, truth.n_frames)
    ids = np.asarray(parsed.color_ids)
    color = truth.color.astype(np.int64)  # (n, K)
    present = np.asarray(getattr(truth, "present", np.ones(color.shape, dtype=bool)), dtype=bool)  # (n, K)
    # column of the palette rule of each true object's colour
    match = color[..., None] == ids[None, None, :]  # (n, K, P)
    if not (match.any(axis=-1) | ~present).all():
        missing = sorted(set(color[~match.any(axis=-1) & present].tolist()))
        raise PhylawError(
            f"the palette ({', '.join(parsed.names)}) has no rule for object colour id(s) {missing}"
        )
    col = match.argmax(axis=-1)  # (n, K)
    take = col[:, None, :].repeat(t, axis=1)  # (n, T, K)
    pos_hat = np.take_along_axis(parsed.center[:, :t], take[..., None], axis=2)  # (n, T, K, 2)
    radius_hat = np.take_along_axis(parsed.radius[:, :t], take, axis=2)
    shape_hat = np.take_along_axis(parsed.shape[:, :t], take, axis=2)
    detected = np.take_along_axis(parsed.visible[:, :t], take, axis=2)
    for v, cid in _shared_colours(color, present):
        if frames is None or parsed.palette is None:
            raise PhylawError(
                f"video {v} has several objects of colour id {cid}: splitting them needs the frames and the "
                "palette they were parsed with (build_context(..., frames=...), parse())"
            )
        ks = np.nonzero((color[v] == cid) & present[v])[0]
        rule = parsed.palette.rules[parsed.palette.index_of(int(cid))]
        stats = object_stats(
            frames[v, :t],
            rule,
            truth.position[v, :t][:, ks],
            parsed.min_area,
            parsed.convention,
            world_size=parsed.world_size,
        )
        center, radius, _area, visible, _fill, shape = object_states(stats, parsed)
        pos_hat[v][:, ks], radius_hat[v][:, ks], shape_hat[v][:, ks], detected[v][:, ks] = (
            center,
            radius,
            shape,
            visible,
        )
    return MetricInputs(
        scenario=truth.scenario,
        cond_frames=int(cond_frames),
        dt=float(truth.dt),
        pos_hat=pos_hat,
        radius_hat=radius_hat,
        shape_hat=shape_hat,
        detected=detected,
        palette_visible=parsed.visible[:, :t],
        palette_ids=ids,
        pos=truth.position[:, :t],
        vel0=truth.velocity[:, 0],
        radius=truth.radius,
        color=color,
        shape=truth.shape.astype(np.int64),
        in_view=truth.in_view[:, :t] & present[:, None, :],
        contact_frame=truth.contact_frame.astype(np.int64),
        frames=None if frames is None else frames[:, :t],
        gt_frames=None if gt_frames is None else gt_frames[:, :t],
        parsed=parsed,
        truth=truth,
    )


def _masked_mean(values: np.ndarray, mask: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    mask = mask & np.isfinite(values)
    count = mask.sum(axis=axes)
    total = np.where(mask, values, 0.0).sum(axis=axes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _velocity_error(ctx: MetricInputs, phase: str, components: slice) -> np.ndarray:
    v_hat, v = ctx.velocities()
    err = np.linalg.norm(v_hat[..., components] - v[..., components], axis=-1)  # (n, T-1, K)
    return _masked_mean(err, ctx.interval_mask(phase), (1, 2))


def velocity_error(ctx: MetricInputs) -> np.ndarray:
    """Mean over objects and valid intervals of |v̂_t − v_t| (2-D norm), post-collision only in collisions."""
    return _velocity_error(ctx, "post", slice(0, 2))


def velocity_error_capped(ctx: MetricInputs) -> np.ndarray:
    """velocity_error with failures counted: every valid interval scores min(‖v̂_t − v_t‖, cap), and one whose
    object is not detected in both frames scores the cap (VELOCITY_CAP world/s)."""
    v_hat, v = ctx.velocities()
    err = np.linalg.norm(
        v_hat - v, axis=-1
    )  # (n, T-1, K), NaN where a frame of the interval is a parse failure
    err = np.where(np.isfinite(err), np.minimum(err, VELOCITY_CAP), VELOCITY_CAP)
    return _masked_mean(err, ctx.interval_mask("post"), (1, 2))


def velocity_error_x(ctx: MetricInputs) -> np.ndarray:
    """As velocity_error, x component only (the released evaluator's abs_x_vel_err_avg)."""
    return _velocity_error(ctx, "post", slice(0, 1))


def velocity_error_pre(ctx: MetricInputs) -> np.ndarray:
    """velocity_error over pre-collision intervals (t >= c, t + 1 < contact_frame)."""
    return _velocity_error(ctx, "pre", slice(0, 2))


def mean_velocity_error(ctx: MetricInputs) -> np.ndarray:
    """Mean over objects of |mean_t v̂_t − mean_t v_t| over the scored intervals (released code's vel_error)."""
    v_hat, v = ctx.velocities()
    mask = ctx.interval_mask("post") & np.isfinite(v_hat).all(axis=-1)  # (n, T-1, K)
    diff = np.stack(
        [_masked_mean(v_hat[..., c] - v[..., c], mask, (1,)) for c in range(2)], axis=-1
    )  # (n, K, 2)
    return _masked_mean(np.linalg.norm(diff, axis=-1), np.ones(diff.shape[:2], dtype=bool), (1,))


def position_error(ctx: MetricInputs) -> np.ndarray:
    """Mean |p̂ − p| over objects and generated frames with the true object in view (world units)."""
    err = np.linalg.norm(ctx.pos_hat - ctx.pos, axis=-1)  # (n, T, K)
    return _masked_mean(err, ctx.frame_mask(), (1, 2))


def radius_error(ctx: MetricInputs) -> np.ndarray:
    """Mean |r̂ − r| over objects and generated frames with the true object in view (world units)."""
    err = np.abs(ctx.radius_hat - ctx.radius[:, None, :])
    return _masked_mean(err, ctx.frame_mask(), (1, 2))


def radius_drift(ctx: MetricInputs) -> np.ndarray:
    """Mean over objects of max_t r̂ − min_t r̂ over generated in-view frames (the released delta_r)."""
    mask = ctx.frame_mask() & ctx.detected
    hi = np.where(mask, ctx.radius_hat, -np.inf).max(axis=1)  # (n, K)
    lo = np.where(mask, ctx.radius_hat, np.inf).min(axis=1)
    drift = np.where(mask.any(axis=1), hi - lo, np.nan)
    return _masked_mean(drift, np.ones(drift.shape, dtype=bool), (1,))


def parse_failure_rate(ctx: MetricInputs) -> np.ndarray:
    """Fraction of (object, generated frame) pairs with the true object in view where it was not detected."""
    mask = ctx.frame_mask()
    return _masked_mean((~ctx.detected).astype(np.float64), mask, (1, 2))


def color_consistency(ctx: MetricInputs) -> np.ndarray:
    """Fraction of generated frames (all true objects in view) whose detected colour set is the true one."""
    want = (ctx.palette_ids[None, None, :] == ctx.color[:, :, None]).any(axis=1)  # (n, P)
    same = (ctx.palette_visible == want[:, None, :]).all(axis=-1).astype(np.float64)  # (n, T)
    frames = ctx.generated()[None, :] & ctx.in_view.all(axis=-1)  # (n, T)
    return _masked_mean(same, frames, (1,))


def shape_consistency(ctx: MetricInputs) -> np.ndarray:
    """Fraction of detected objects in generated in-view frames whose parsed shape is the true shape."""
    same = (ctx.shape_hat == ctx.shape[:, None, :]).astype(np.float64)
    mask = ctx.frame_mask() & ctx.detected & (ctx.shape_hat != SHAPE_UNKNOWN)
    return _masked_mean(same, mask, (1, 2))


def _post_pairs(ctx: MetricInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parsed velocities, masses (true r², m ∝ r²) and the intervals where every object is scored."""
    v_hat, _ = ctx.velocities()
    mask = ctx.interval_mask("post").all(axis=-1) & np.isfinite(v_hat).all(axis=(-1, -2))  # (n, T-1)
    mask &= (ctx.contact_frame >= 0)[:, None]
    return v_hat, ctx.radius**2, mask


def momentum_error(ctx: MetricInputs) -> np.ndarray:
    """Mean over post-collision intervals of |Σ m_k v̂_k,t − Σ m_k v_k(0)|, m = true r² (collision)."""
    v_hat, m, mask = _post_pairs(ctx)
    p_hat = np.einsum("nk,ntkc->ntc", m, np.nan_to_num(v_hat))  # (n, T-1, 2)
    p0 = np.einsum("nk,nkc->nc", m, ctx.vel0)  # (n, 2)
    return _masked_mean(np.linalg.norm(p_hat - p0[:, None], axis=-1), mask, (1,))


def kinetic_energy_error(ctx: MetricInputs) -> np.ndarray:
    """Mean over post-collision intervals of |Σ ½ m_k |v̂_k,t|² − Σ ½ m_k |v_k(0)|²|, m = true r² (collision)."""
    v_hat, m, mask = _post_pairs(ctx)
    e_hat = 0.5 * np.einsum("nk,ntk->nt", m, (np.nan_to_num(v_hat) ** 2).sum(-1))  # (n, T-1)
    e0 = 0.5 * np.einsum("nk,nk->n", m, (ctx.vel0**2).sum(-1))  # (n,)
    return _masked_mean(np.abs(e_hat - e0[:, None]), mask, (1,))


def _poly_fit(t: np.ndarray, y: np.ndarray, w: np.ndarray, degree: int) -> np.ndarray:
    """Weighted least-squares polynomial fits of many series at once: t (T,), y/w (n, T) -> coeffs (n, deg+1).

    Rows with fewer than degree + 1 points get NaN.
    """
    a = np.vander(t, degree + 1, increasing=True)  # (T, D)
    w = w.astype(np.float64)
    ata = np.einsum("nt,td,te->nde", w, a, a)  # (n, D, D)
    aty = np.einsum("nt,td,nt->nd", w, a, np.where(w > 0, y, 0.0))  # (n, D)
    ok = w.sum(axis=1) >= degree + 1
    ata[~ok] = np.eye(degree + 1)
    coef = np.linalg.solve(ata, aty[..., None])[..., 0]  # (n, D)
    coef[~ok] = np.nan
    return coef


def _fit_frames(ctx: MetricInputs) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(ctx.n_frames) * ctx.dt
    w = (ctx.frame_mask() & ctx.detected)[:, :, 0]  # (n, T): first object
    return t, w


def fitted_gravity(ctx: MetricInputs) -> np.ndarray:
    """Gravity ĝ = −2·c₂ of a least-squares fit y(t) = c₀ + c₁t + c₂t² to the parsed centre (parabola)."""
    t, w = _fit_frames(ctx)
    return -2.0 * _poly_fit(t, ctx.pos_hat[:, :, 0, 1], w, 2)[:, 2]


def gravity_error(ctx: MetricInputs) -> np.ndarray:
    """|ĝ − g|, g fitted the same way to the true positions over the same frames (parabola)."""
    t, w = _fit_frames(ctx)
    g = -2.0 * _poly_fit(t, ctx.pos[:, :, 0, 1], w, 2)[:, 2]
    return np.abs(fitted_gravity(ctx) - g)


def constant_velocity_residual(ctx: MetricInputs) -> np.ndarray:
    """RMS distance of the parsed centres from their best straight-line, constant-speed fit (uniform)."""
    t, w = _fit_frames(ctx)
    sq = np.zeros(w.shape)
    for c in range(2):
        y = ctx.pos_hat[:, :, 0, c]
        coef = _poly_fit(t, y, w, 1)  # (n, 2)
        sq = sq + (y - coef[:, :1] - coef[:, 1:] * t[None]) ** 2
    return np.sqrt(_masked_mean(sq, w & (w.sum(axis=1, keepdims=True) >= 3), (1,)))


MetricContext = MetricInputs  # the earlier name


# ----------------------------------------------------------------------------------------------- set metrics
def _mean_over(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(n, T', K, C) values, (n, T', K) mask -> (n, K, C) masked means over the frame axis (NaN: none)."""
    return np.stack([_masked_mean(values[..., c], mask, (1,)) for c in range(values.shape[-1])], axis=-1)


def state_features(ctx: MetricInputs) -> np.ndarray:
    """Per-video physical features for ``state_frechet_distance``: (n, 2, 3K), row 0 of the parsed states
    (mean velocity (2) over the scored generated intervals and mean radius over the detected generated in-view
    frames, per object), row 1 the same of the true states over every valid interval and the true radius.

    NaN features (an object never scored) make the video undefined for the metric."""
    v_hat, v = ctx.velocities()
    valid = ctx.interval_mask("all")  # (n, T-1, K) generated intervals, object in view
    gen_v = _mean_over(v_hat, valid & np.isfinite(v_hat).all(axis=-1))  # (n, K, 2)
    ref_v = _mean_over(v, valid)
    frames = ctx.frame_mask()
    gen_r = _masked_mean(ctx.radius_hat, frames & ctx.detected, (1,))[..., None]  # (n, K, 1)
    ref_r = np.where(frames.any(axis=1), ctx.radius, np.nan)[..., None]
    n = len(ctx.pos)
    gen = np.concatenate([gen_v, gen_r], axis=-1).reshape(n, -1)  # (n, 3K)
    ref = np.concatenate([ref_v, ref_r], axis=-1).reshape(n, -1)
    return np.stack([gen, ref], axis=1)


def frechet_distance(gen: np.ndarray, ref: np.ndarray) -> float:
    """Squared Fréchet distance between Gaussian fits (mean, covariance with ddof 1) of two feature sets
    (m, d) each: ‖μ_g − μ_r‖² + Tr(Σ_g + Σ_r − 2 (Σ_g Σ_r)^½) (as FID/FVD). NaN for fewer than 2 rows.

    Tr((Σ_g Σ_r)^½) = Tr((Σ_g^½ Σ_r Σ_g^½)^½): symmetric eigendecompositions only (deterministic, no complex
    round-off of a general matrix square root)."""
    gen, ref = np.asarray(gen, np.float64), np.asarray(ref, np.float64)
    if len(gen) < 2 or len(ref) < 2:
        return float("nan")
    s_g = np.atleast_2d(np.cov(gen, rowvar=False))
    s_r = np.atleast_2d(np.cov(ref, rowvar=False))
    w, u = np.linalg.eigh(s_g)
    root = (u * np.sqrt(np.clip(w, 0.0, None))) @ u.T  # Σ_g^½
    mid = root @ s_r @ root
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((mid + mid.T) / 2), 0.0, None)).sum()
    return float(((gen.mean(0) - ref.mean(0)) ** 2).sum() + np.trace(s_g) + np.trace(s_r) - 2.0 * cross)
