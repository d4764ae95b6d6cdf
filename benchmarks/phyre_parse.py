"""Multi-object parser throughput at 256² (issue 13 Performance): evaluate.objects.parse_objects against a
straightforward reference (per frame, per class: numpy nearest-colour classes, scipy.ndimage.label,
ndimage.center_of_mass / sum over the labels, Hungarian matching frame to frame), one core, ratio in one run;
parse + judge when ``phylaw.evaluate.judge.judge`` exists. ``--quality N``: the parser on N ground-truth
videos (32 frames) of eval-out-of-template-small and eval-in-template-small at 128² and 256² instead: lost
track-frames (a track not present), bodies without a frame-0 track after match_truth, tracks merged in
frame 0, final_state_match rate, final_position_error (mean, median), red ball error, and the error of
merged tracks' centroids (scene units).

    python benchmarks/phyre_parse.py [--videos 12] [--resolution 256]
    python benchmarks/phyre_parse.py --quality 40
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.ndimage as ndi
from scipy.optimize import linear_sum_assignment

from phylaw.evaluate import objects as ob
from phylaw.render.phyre_raster import render_phyre
from phylaw.sim.phyre.engine import simulate_rows
from phylaw.sim.phyre.splits import get_split


def reference(video: np.ndarray) -> list:
    """The straightforward parser of one video (T, H, W, 3): per frame, per class."""
    ref = ob.REFERENCE_RGB.astype(np.float64)
    s8 = np.ones((3, 3))
    prev: dict[int, np.ndarray] = {}
    out = []
    for frame in video:
        d = ((frame[:, :, None, :].astype(np.float64) - ref) ** 2).sum(-1)  # (H, W, R)
        near = d.argmin(-1)
        cls = np.where(d.min(-1) < ob.CLASS_TOLERANCE**2, ob.REFERENCE_CLASS[near], 0)
        for c in range(1, 7):
            lab, n = ndi.label(cls == c, s8)
            if n == 0:
                continue
            idx = np.arange(1, n + 1)
            area = ndi.sum(np.ones_like(lab), lab, idx)
            cent = np.array(ndi.center_of_mass(np.ones_like(lab), lab, idx))
            for k in idx:  # second moments per component
                ii, jj = np.nonzero(lab == k)
                np.cov(np.stack([ii, jj]))
            if c in prev and len(prev[c]):
                dist = np.hypot(*(prev[c][:, None] - cent[None]).transpose(2, 0, 1))
                linear_sum_assignment(dist)
            prev[c] = cent
            out.append((area, cent))
    return out


def quality(n: int) -> None:
    """Parser quality on ground truth (see the module docstring)."""
    from phylaw.evaluate import tracks_metrics as tm

    for split in ("eval-out-of-template-small", "eval-in-template-small"):
        states, _ = simulate_rows(get_split(split).params(0, n), 0, 32)
        for res in (128, 256):
            tracks = ob.parse_objects(render_phyre(states, res))
            real = tracks.cls > 0
            lost = (~tracks.present & real[:, None]).sum() / (real.sum() * tracks.n_frames)
            m = ob.match_truth(tracks, states)
            drawn = states.present & (states.color != 0)
            missing = sum(len(set(np.flatnonzero(drawn[v])) - set(m.truth_slot[v])) for v in range(n))
            fsm = tm.final_state_match(m, states)
            fpe = tm.final_position_error(m, states)
            d, det = tm.body_errors(m, states)
            vids, slots = np.nonzero(m.truth_slot >= 0)
            mer = np.zeros_like(det)
            mer[vids, :, m.truth_slot[vids, slots]] = m.merged[vids, :, slots]
            print(
                f"{split} {res}²: lost {100 * lost:.2f} % of track-frames, {missing}/{drawn.sum()} bodies "
                f"without a frame-0 track, {(m.merged[:, 0] & (m.cls > 0)).sum()} merged in frame 0; "
                f"final_state_match {np.nanmean(fsm):.0%}, final_position_error mean {np.nanmean(fpe):.2f} "
                f"median {np.nanmedian(fpe):.2f}; red {np.nanmean(tm.red_position_error(m, states)):.2f}; "
                f"merged centroids median {np.nanmedian(np.where(det & mer, d, np.nan)):.2f}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=12)
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument(
        "--quality", type=int, default=0, help="ground-truth videos per split for the quality run"
    )
    args = ap.parse_args()
    if args.quality:
        quality(args.quality)
        return
    states, _ = simulate_rows(get_split("eval-in-template-small").params(0, args.videos), 0, 32)
    frames = render_phyre(states, args.resolution)
    ob.parse_objects(frames[:1])  # compile / load the kernels
    t0 = time.perf_counter()
    tracks = ob.parse_objects(frames)
    t_parse = time.perf_counter() - t0
    t0 = time.perf_counter()
    for v in frames:
        reference(v)
    t_ref = time.perf_counter() - t0
    n = len(frames)
    print(f"{n} videos x 32 frames at {args.resolution}²")
    print(f"parse_objects : {n / t_parse:8.2f} videos/s")
    print(f"reference     : {n / t_ref:8.2f} videos/s")
    print(f"ratio         : {t_ref / t_parse:8.2f}x")
    try:
        from phylaw.evaluate.judge import judge
    except ImportError:
        return
    judge(tracks.subset(slice(0, 1)))
    t0 = time.perf_counter()
    judge(ob.parse_objects(frames))
    t_pj = time.perf_counter() - t0
    print(f"parse + judge : {n / t_pj:8.2f} videos/s, ratio {t_ref / t_pj:.2f}x against the reference parser")


if __name__ == "__main__":
    main()
