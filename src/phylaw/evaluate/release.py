"""The release's metric family (``phylaw evaluate --metric-set release``): the numbers the paper published.

The paper states a per-frame velocity error, but its Fig. 3 and Table 3 numbers come from the released
evaluator (``id_ood_data/evaluate.py``, SPEC D.1). This module measures what that evaluator measures, from the
same parsed moments as phylaw's own metrics (``evaluate.parse``), so the two families differ only where the
definitions do:

* **Pixel convention.** The release's parser maps the mean mask column j̄ and the mean row ī of the
  vertically flipped frame to x = j̄·S/W and y = (H − 1 − ī)·S/W (S = 10 world units). Its renderer draws
  pixel j at j·S/(W − 1) (``render.raster``, ``pixel_convention="linspace"``), so every parsed length, hence
  every parsed velocity, is short by a factor (W_render − 1)/W_render: a bias of v/256 at the release's 256²
  frames, whatever the resolution they are area-averaged down to (SPEC F.12). ``release_positions`` recovers
  j̄, ī from any phylaw ``ParsedStates`` (either of its conventions) and applies the release's mapping.
* **Missing detections** (an empty mask) are replaced as the release does: x = 10 (the single ball;
  collision ball 2) or x = 0 (collision ball 1), y carried over from the previous scored frame. phylaw's own
  metrics never do this (SPEC I.4); ``parse_failure_rate`` (phylaw set) counts them.
* **Frame selection** (``release_frames``): the first T_gt − 1 frames only (the release scores its 31
  generated frames against ``gt_states[:-1]``), index ≥ c (3: its ``CONDITION_FRAMES − 1``), and the ground-truth
  ball fully in view: x ± r and y ± r inside [0, 10] (uniform motion, parabola); x1 − r1 ≥ 0 and x2 + r2 ≤ 10
  (collision; the two outer edges only). Velocities are differences of consecutive selected frames / 0.1 s.
* **Headline numbers**: uniform ``vel_error`` = |mean_t v̂_x,t − v0|; parabola ``x_vel_error``, the same
  formula on the horizontal velocity; collision ``post_vel_error`` = mean over balls of |mean_t v̂ − mean_t v|
  over the post-collision intervals (the release's collision index: the first interval i ≥ 1 where a ball's
  true x velocity changes by more than 0.1 from interval i − 1; post = intervals after it) and the per-frame
  ``post_vel_err_avg`` = mean over post intervals and balls of |v̂ − v|. ``headline`` (metric
  ``release_headline``) is, under one name, the quantity the paper's Fig. 3 and Table 3 numbers reproduce:
  ``vel_error`` (uniform), ``post_vel_error`` (collision) and, for parabola, the position error
  ``abs_x_err_avg`` (world units), the x quantity the released ``eval_parabola`` writes to its CSV; its
  ``x_vel_error`` is computed there but never written (``HEADLINE_RECIPES``, docs/evaluation.md).
* **Buckets** (``release_buckets``): the release groups videos by their parameters, not by split labels:
  ``zero`` (a speed is 0), ``in`` (every radius and speed inside its training ranges: r ∈ [0.7, 1.4],
  v ∈ [1, 4]; collision r ∈ [0.5, 1.5]), ``r_out``, ``v_out``, ``rv_out``; ``out`` pools the four OOD
  buckets (summary level "pooled"). Its small-radius filter (r < 0.6; collision r_i ≤ 0.5) is an option
  (``EvalOptions.released_radius_filter``), off by default.

Only x enters the velocity numbers; the release never scores a y velocity.
"""

from __future__ import annotations

import numpy as np

from phylaw.errors import PhylawError
from phylaw.evaluate.metrics import MetricInputs, _masked_mean
from phylaw.sim.registry import get_scenario

SCENARIOS = ("uniform_motion", "parabola", "collision")  # the scenarios the release's evaluator scores
# training ranges the release's buckets use (its MIN_R/MAX_R/MIN_V/MAX_V per eval function)
BUCKET_RANGES = {
    "uniform_motion": ((0.7, 1.4), (1.0, 4.0)),
    "parabola": ((0.7, 1.4), (1.0, 4.0)),
    "collision": ((0.5, 1.5), (1.0, 4.0)),
}
BUCKETS = ("in", "r_out", "v_out", "rv_out", "zero")  # level names; "pooled" = the release's "out"
COLLISION_JUMP = 0.1  # world/s: a change of true x velocity above this marks the collision interval


def check_scenario(scenario: str) -> None:
    """PhylawError unless the release's evaluator has a recipe for ``scenario``."""
    if scenario not in SCENARIOS:
        raise PhylawError(
            f"metric set 'release' has no recipe for scenario {scenario!r}: the released evaluator scores "
            f"{', '.join(SCENARIOS)} only"
        )


def release_buckets(
    scenario: str, params: np.ndarray, names: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """The release's buckets of videos with parameters ``params`` (n, P) named ``names``: (split, level),
    split "id" for bucket ``in`` and "ood" for the others (their pooled row is the release's ``out``)."""
    check_scenario(scenario)
    sc = get_scenario(scenario)
    (r_lo, r_hi), (v_lo, v_hi) = BUCKET_RANGES[scenario]
    col = {n: i for i, n in enumerate(names)}
    radius = params[:, [col[p.name] for p in sc.params if p.kind == "radius"]]  # (n, R)
    speed = params[:, [col[p.name] for p in sc.params if p.kind == "speed"]]  # (n, V)
    r_in = ((radius >= r_lo) & (radius <= r_hi)).all(axis=1)
    v_in = ((speed >= v_lo) & (speed <= v_hi)).all(axis=1)
    zero = (speed == 0).any(axis=1)
    level = np.select(
        [zero, r_in & v_in, ~r_in & v_in, r_in & ~v_in], ["zero", "in", "r_out", "v_out"], "rv_out"
    ).astype(object)
    return np.where(level == "in", "id", "ood").astype(object), level


def release_positions(ctx: MetricInputs) -> np.ndarray:
    """(n, T, K, 2) parsed centres in the release parser's mapping x = j̄·S/W, y = (H − 1 − ī)·S/W, with its
    stand-in x for an undetected object (y NaN there; ``release_track`` carries y over)."""
    p = ctx.parsed
    if p is None:
        raise PhylawError("the release's metrics need the parsed states (Metric.needs 'parsed')")
    s, h, w = float(p.world_size), p.height, p.width
    x, y = ctx.pos_hat[..., 0], ctx.pos_hat[..., 1]
    if p.convention == "centre":  # x = (j̄ + 0.5)·S/W, y = S − (ī + 0.5)·S/H
        j, i = x * w / s - 0.5, (s - y) * h / s - 0.5
    else:  # "linspace": x = j̄·S/(W − 1), y = S − ī·S/(H − 1)
        j, i = x * (w - 1) / s, (s - y) * (h - 1) / s
    out = np.stack([j * s / w, (h - 1 - i) * s / w], axis=-1)
    for k in range(out.shape[2]):
        stand_in = 0.0 if (ctx.scenario == "collision" and k == 0) else s
        out[:, :, k, 0] = np.where(ctx.detected[:, :, k], out[:, :, k, 0], stand_in)
    return out


def release_frames(ctx: MetricInputs) -> np.ndarray:
    """(n, T) bool: the frames the release scores (module docstring)."""
    t_gt = ctx.truth.n_frames if ctx.truth is not None else ctx.n_frames
    t = np.arange(ctx.n_frames)
    frames = (t >= ctx.cond_frames) & (t < t_gt - 1)  # (T,)
    pos, r = ctx.pos, ctx.radius  # (n, T, K, 2), (n, K)
    if ctx.scenario == "collision":
        view = (pos[:, :, 0, 0] - r[:, None, 0] >= 0) & (pos[:, :, 1, 0] + r[:, None, 1] <= 10.0)
    else:
        rr = r[:, None, 0, None]  # (n, 1, 1)
        view = ((pos[:, :, 0] - rr >= 0) & (pos[:, :, 0] + rr <= 10.0)).all(axis=-1)
    return frames[None, :] & view


def _compact(values: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """Move each video's selected frames to the front, in order: values (n, T, ...) -> (n, T, ...), NaN
    after the selected ones."""
    order = np.argsort(~sel, axis=1, kind="stable")  # (n, T) selected frames first
    idx = order.reshape(order.shape + (1,) * (values.ndim - 2))
    out = np.take_along_axis(values.astype(np.float64), idx, axis=1)
    keep = np.take_along_axis(sel, order, axis=1).reshape(idx.shape)
    return np.where(keep, out, np.nan)


def _forward_fill(values: np.ndarray) -> np.ndarray:
    """NaN entries (n, T, K) take the last finite value before them along T (leading NaNs stay NaN)."""
    t = np.arange(values.shape[1])[None, :, None]
    last = np.maximum.accumulate(np.where(np.isfinite(values), t, -1), axis=1)  # (n, T, K)
    out = np.take_along_axis(values, np.maximum(last, 0), axis=1)
    return np.where(last >= 0, out, np.nan)


def release_selected(ctx: MetricInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parsed (the release's mapping and stand-ins, y carried over) and true centres over the release's
    selected frames, moved to the front: (n, T, K, 2) each (NaN beyond them), and the count per video (n,)."""
    sel = release_frames(ctx)
    hat = release_positions(ctx)
    hat[..., 1] = np.where(ctx.detected, hat[..., 1], np.nan)
    hat = _compact(hat, sel)
    hat[..., 1] = _forward_fill(hat[..., 1])
    return hat, _compact(ctx.pos, sel), sel.sum(axis=1)


def release_track(ctx: MetricInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parsed and true x velocities over the release's selected frames, each (n, T − 1, K), and the valid
    interval mask (n, T − 1): interval k joins the k-th and (k + 1)-th selected frames."""
    hat, pos, m = release_selected(ctx)
    valid = np.arange(ctx.n_frames - 1)[None, :] < (m - 1)[:, None]  # (n, T-1)
    return np.diff(hat[..., 0], axis=1) / ctx.dt, np.diff(pos[..., 0], axis=1) / ctx.dt, valid


def _plain_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of values (n, T) over mask (n, T) per video, NaN if a masked value is NaN or none is masked (the
    release's ``np.mean``)."""
    count = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.where(mask, values, 0.0).sum(axis=1) / np.maximum(count, 1), np.nan)


def _position_error(ctx: MetricInputs, axis: int) -> np.ndarray:
    hat, pos, m = release_selected(ctx)
    frames = np.arange(ctx.n_frames)[None, :] < m[:, None]  # (n, T)
    return _plain_mean(np.abs(hat[:, :, 0, axis] - pos[:, :, 0, axis]), frames)


def abs_x_err_avg(ctx: MetricInputs) -> np.ndarray:
    """mean_t |x̂_t − x_t| (world units) over the release's frames (its ``abs_x_err_avg``, a position error)."""
    return _position_error(ctx, 0)


def abs_y_err_avg(ctx: MetricInputs) -> np.ndarray:
    """mean_t |ŷ_t − y_t| over the release's frames, ŷ carried over where undetected (its ``abs_y_err_avg``)."""
    return _position_error(ctx, 1)


def stand_in_rate(ctx: MetricInputs) -> np.ndarray:
    """Fraction of (object, selected frame) pairs where the object was not detected and the release's stand-in
    position (x = 10, or 0 for collision ball 1) was scored instead."""
    sel = release_frames(ctx)[..., None] & np.ones(ctx.detected.shape, dtype=bool)  # (n, T, K)
    return _masked_mean((~ctx.detected).astype(np.float64), sel, (1, 2))


def vel_error(ctx: MetricInputs) -> np.ndarray:
    """|mean_t v̂_x,t − v0| over the release's frames (its uniform ``vel_error``, parabola ``x_vel_error``)."""
    v_hat, _, valid = release_track(ctx)
    return np.abs(_masked_mean(v_hat[..., 0], valid, (1,)) - ctx.vel0[:, 0, 0])


def abs_x_vel_err_avg(ctx: MetricInputs) -> np.ndarray:
    """mean_t |v̂_x,t − v_x,t| over the release's frames (its per-frame ``abs_x_vel_err_avg``)."""
    v_hat, v, valid = release_track(ctx)
    return _masked_mean(np.abs(v_hat[..., 0] - v[..., 0]), valid, (1,))


def _phases(v: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pre, post) interval masks (n, T − 1) of the release's collision index, from true velocities (n, T−1, 2)."""
    jump = (np.abs(np.diff(v, axis=1)) > COLLISION_JUMP).any(axis=-1) & valid[:, 1:]  # (n, T-2): interval i+1
    m1 = valid.sum(axis=1)  # (n,) intervals
    k = np.where(jump.any(axis=1), jump.argmax(axis=1) + 1, m1 - 1)  # (n,) the release's collision_index
    j = np.arange(v.shape[1])[None, :]
    return valid & (j < k[:, None]), valid & (j >= k[:, None] + 1)


def _collision_mean_error(ctx: MetricInputs, phase: int) -> np.ndarray:
    v_hat, v, valid = release_track(ctx)
    mask = _phases(v, valid)[phase]
    per_ball = np.abs(
        np.stack(
            [_masked_mean(v_hat[..., b], mask, (1,)) - _masked_mean(v[..., b], mask, (1,)) for b in (0, 1)],
            -1,
        )
    )  # (n, 2)
    return per_ball.mean(axis=1)


def post_vel_error(ctx: MetricInputs) -> np.ndarray:
    """Mean over the two balls of |mean_t v̂ − mean_t v| over post-collision intervals (its ``post_vel_error``)."""
    return _collision_mean_error(ctx, 1)


def pre_vel_error(ctx: MetricInputs) -> np.ndarray:
    """The same over pre-collision intervals (its ``pre_vel_error``)."""
    return _collision_mean_error(ctx, 0)


def post_vel_err_avg(ctx: MetricInputs) -> np.ndarray:
    """Mean over post-collision intervals and both balls of |v̂_t − v_t| (its per-frame ``post_vel_err_avg``)."""
    v_hat, v, valid = release_track(ctx)
    mask = _phases(v, valid)[1]
    return _masked_mean(np.abs(v_hat - v), np.repeat(mask[..., None], 2, axis=-1), (1, 2))


HEADLINE_RECIPES = {  # scenario -> the release quantity the paper's published numbers come from
    "uniform_motion": vel_error,  # 0.0098 on ground truth at 256² and 128², paper 0.0099
    "collision": post_vel_error,  # 0.0118 at 256² with the small-radius filter, paper 0.0117
    "parabola": abs_x_err_avg,  # 0.0212 at 256², paper 0.0210 (x_vel_error gives 0.0098)
}


def headline(ctx: MetricInputs) -> np.ndarray:
    """The paper's published number for the scenario (``HEADLINE_RECIPES``; docs/evaluation.md)."""
    check_scenario(ctx.scenario)
    return HEADLINE_RECIPES[ctx.scenario](ctx)
