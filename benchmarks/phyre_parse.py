"""Multi-object parser throughput at 256² (issue 13 Performance): evaluate.objects.parse_objects against a
straightforward reference (per frame, per class: numpy nearest-colour classes, scipy.ndimage.label,
ndimage.center_of_mass / sum over the labels, Hungarian matching frame to frame), one core, ratio in one run;
parse + judge when ``phylaw.evaluate.judge.judge`` exists.

    python benchmarks/phyre_parse.py [--videos 12] [--resolution 256]
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=12)
    ap.add_argument("--resolution", type=int, default=256)
    args = ap.parse_args()
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
