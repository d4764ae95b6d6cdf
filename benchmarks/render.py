"""Throughput of phylaw.render and SplitDef.generate on one core, with same-run baselines.

    python benchmarks/render.py            # full table (about a minute on an idle core)
    python benchmarks/render.py --quick    # fewer videos

Rendering (32 frames, videos/s/core, CPU time of this process) against a full-frame float64 soft-disc
renderer in the style of the official generator (one full-image mask per object and frame), measured
in the same run. Generation (states only) against the same closed-form physics called one video at a time
(what a per-video loop costs). Targets: render >= 100 videos/s/core at 128², >= 40 at 256²;
generate >= 5000 videos/s/core.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from phylaw.render import render
from phylaw.render.palette import rgb_table
from phylaw.seeding import child_rng
from phylaw.sim import Trajectories, get_split, simulate


def cpu_rate(fn, n_items: int, min_time: float = 1.0) -> float:
    """Items per CPU second of fn() (repeated until min_time of CPU time has passed)."""
    fn()  # warm-up
    done, t0 = 0, time.process_time()
    while True:
        fn()
        done += n_items
        dt = time.process_time() - t0
        if dt >= min_time:
            return done / dt


def full_frame_reference(tr: Trajectories, res: int) -> np.ndarray:
    """The official method: a full-image float64 mask per object and frame (B.0), no bounding boxes."""
    n, t, k, _ = tr.position.shape
    grid = np.linspace(0, 1, res)
    xx, yy = np.meshgrid(grid, grid)  # (H, W)
    table = rgb_table().astype(np.float64)
    out = np.empty((n, t, res, res, 3), dtype=np.uint8)
    for i in range(n):
        for f in range(t):
            img = np.full((res, res, 3), 255.0)
            for o in range(k):
                (x, y), r = tr.position[i, f, o] / 10, tr.radius[i, o] / 10
                m = np.clip((r * r - (xx - x) ** 2 - (yy - y) ** 2) / (r * r * 0.03), 0, 1)[..., None]
                img = (1 - m) * img + m * table[tr.color[i, o]]
            out[i, f] = img[::-1].astype(np.uint8)
    return out


def bench_render(
    scenario: str, res: int, n_ref: int, batch: int, min_time: float
) -> tuple[float, float, float]:
    tr = get_split(scenario, "train-30k").generate(0, batch, seed=0).trajectories
    buf = np.empty((batch, tr.n_frames, res, res, 3), dtype=np.uint8)
    reused = cpu_rate(lambda: render(tr, res, out=buf), batch, min_time)
    fresh = cpu_rate(lambda: render(tr, res), batch, min_time)
    sub = tr.subset(slice(0, n_ref))
    ref = cpu_rate(lambda: full_frame_reference(sub, res), n_ref, min_time)
    return reused, fresh, ref


def bench_generate(scenario: str, n: int, n_loop: int, min_time: float) -> tuple[float, float]:
    split = get_split(scenario, "train-3m")
    vec = cpu_rate(lambda: split.generate(0, n, seed=0), n, min_time)
    params = split.params(0, n_loop)
    rng = child_rng(0, "bench")

    def loop() -> None:
        for i in range(n_loop):
            simulate(scenario, params[i : i + 1], rng)

    return vec, cpu_rate(loop, n_loop, min_time)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter measurements")
    args = ap.parse_args()
    min_time = 0.3 if args.quick else 1.5

    print("render: 32 frames per video, videos/s/core (CPU time)")
    print(
        f"{'scenario':<15} {'res':>4} {'phylaw (out=)':>14} {'phylaw (new)':>13} {'full-frame ref':>15} {'ratio':>7}"
    )
    for scenario in ("uniform_motion", "collision"):
        for res in (64, 128, 256):
            reused, fresh, ref = bench_render(scenario, res, n_ref=2, batch=16, min_time=min_time)
            print(
                f"{scenario:<15} {res:>4} {reused:>14.1f} {fresh:>13.1f} {ref:>15.2f} {reused / ref:>6.0f}x"
            )

    print("\ngenerate (states only, train-3m rows): videos/s/core (CPU time)")
    print(f"{'scenario':<15} {'vectorised':>12} {'per-video loop':>15} {'ratio':>7}")
    for scenario in ("uniform_motion", "collision", "parabola"):
        vec, loop = bench_generate(
            scenario, n=100_000 if not args.quick else 20_000, n_loop=300, min_time=min_time
        )
        print(f"{scenario:<15} {vec:>12.0f} {loop:>15.0f} {vec / loop:>6.0f}x")


if __name__ == "__main__":
    main()
