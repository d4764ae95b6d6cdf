"""Dataset generation throughput on one core: phylaw vs the official generator's method, same run.

    python benchmarks/generate.py            # full table (about 2-3 minutes)
    python benchmarks/generate.py --quick    # fewer videos

Reference (written here, not used by the library): the official ``id_ood_data`` pipeline (SPEC B.0) — Box2D
stepping at dt 0.01 with 15/20 iterations for 320 steps recording every 10th, full-frame float64 soft-disc
rendering at 256² on a ``linspace`` meshgrid, per-video MP4 encoding with ``imageio.v3.imwrite(buffer,
frames, extension='.mp4')``, all videos written as a vlen uint8 dataset in HDF5. phylaw: ``generate(...)``
end to end into a dataset file, procedural (states only) and with stored frames at 256² and 128².

Rates are videos per CPU-second (this process plus its children, e.g. ffmpeg), on one pinned core with
OMP_NUM_THREADS=1, so other load on the machine disturbs them less than wall-clock rates. Targets:
procedural >= 1000x the reference, stored 256² >= 10x.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy is imported
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import io
import resource
import tempfile
from pathlib import Path

import h5py
import imageio.v3 as iio
import numpy as np
from Box2D import b2World

from phylaw.datasets import generate
from phylaw.seeding import child_rng


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


# ------------------------------------------------------------------ reference (official method)


def box2d_rollout(balls: list[tuple[float, float, float, float]], gravity: float = 0.0) -> np.ndarray:
    """balls: (x, y, r, vx) each. Returns positions (32, K, 2) recorded after steps 0, 10, ..., 310."""
    world = b2World(gravity=(0, -gravity), doSleep=False)
    bodies = []
    for x, y, r, vx in balls:
        body = world.CreateDynamicBody(position=(x, y))
        body.CreateCircleFixture(radius=r, density=1, restitution=1.0)
        body.linearVelocity = (vx, 0)
        bodies.append(body)
    out = np.empty((32, len(balls), 2))
    for i in range(320):
        world.Step(0.01, 15, 20)
        if i % 10 == 0:
            for k, b in enumerate(bodies):
                out[i // 10, k] = (b.position[0], b.position[1])
    return out


def draw_full_frame(
    pos: np.ndarray, radii: list[float], colors: list[tuple[int, int, int]], res: int
) -> np.ndarray:
    """vectorized_draw_balls: float64 soft discs over the whole frame, linspace(0, 1) pixel grid, flipped."""
    xs, ys = np.meshgrid(np.linspace(0, 1, res), np.linspace(0, 1, res))  # (H, W)
    frames = np.full((pos.shape[0], res, res, 3), 255.0)  # (T, H, W, 3)
    for k, (r, color) in enumerate(zip(radii, colors, strict=True)):
        cx, cy, rn = pos[:, k, 0, None, None] / 10, pos[:, k, 1, None, None] / 10, r / 10  # (T, 1, 1)
        d2 = (xs[None] - cx) ** 2 + (ys[None] - cy) ** 2  # (T, H, W)
        m = np.clip((rn**2 - d2) / (rn**2 * 0.03), 0, 1)[..., None]  # (T, H, W, 1)
        frames = (1 - m) * frames + m * np.array(color, dtype=np.float64)
    return frames[:, ::-1].astype(np.uint8)


def reference_scene(scenario: str, rng: np.random.Generator) -> tuple[list, list, list]:
    """Random parameters and placement in the style of B.1/B.2 (the placement rules cost nothing here)."""
    if scenario == "uniform_motion":
        r, v = rng.uniform(0.7, 1.4), rng.uniform(1, 4)
        x = rng.uniform(r, max(r + 0.5, 10 - 2.4 * v - r))
        return [(x, rng.uniform(r + 0.5, 9.5 - r), r, v)], [r], [(255, 0, 0)]
    r1, r2, v1, v2 = rng.uniform(0.5, 1.5), rng.uniform(0.5, 1.5), rng.uniform(1, 4), rng.uniform(1, 4)
    lo = 0.8 * (v1 + v2) + r1 + r2
    dist = rng.uniform(lo, max(lo, min(2.4 * (v1 + v2) + r1 + r2, 10 - r1 - r2)))
    x1 = rng.uniform(r1, max(r1, 10 - r2 - dist))
    y = rng.uniform(max(r1, r2) + 0.5, 9.5 - max(r1, r2))
    balls = [(x1, y, r1, v1), (min(x1 + dist, 10 - r2), y, r2, -v2)]
    return balls, [r1, r2], [(255, 0, 0), (0, 0, 255)]


def reference_generate(scenario: str, n: int, path: Path) -> None:
    rng = child_rng(0, "benchmark", scenario)
    positions, inits, videos = [], [], []
    for _ in range(n):
        balls, radii, colors = reference_scene(scenario, rng)
        pos = box2d_rollout(balls)
        frames = draw_full_frame(pos, radii, colors, 256)
        buf = io.BytesIO()
        iio.imwrite(buf, frames, extension=".mp4")
        videos.append(np.frombuffer(buf.getvalue(), dtype=np.uint8))
        positions.append(pos[:, 0] if len(balls) == 1 else pos)
        inits.append([b[2] for b in balls] + [abs(b[3]) for b in balls])
    with h5py.File(path, "w") as f:
        f["position_streams"] = np.stack(positions)
        f["init_streams"] = np.array(inits)
        vs = f.create_dataset("video_streams", (n,), dtype=h5py.vlen_dtype(np.uint8))
        for i, v in enumerate(videos):
            vs[i] = v


# ------------------------------------------------------------------ measurement


def measure(fn, path: Path, n: int) -> tuple[float, float]:
    """(videos per CPU-second, bytes per video) of fn() writing n videos to path."""
    t0 = cpu_seconds()
    fn()
    dt = cpu_seconds() - t0
    return n / dt, path.stat().st_size / n


def phylaw_run(scenario: str, n: int, path: Path, resolution: int, procedural: bool) -> tuple[float, float]:
    split = "train-300k" if n > 28000 else "train-30k"
    return measure(
        lambda: generate(
            scenario, split, path, resolution=resolution, procedural=procedural, limit=n, progress=False
        ),
        path,
        n,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer videos (noisier)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    sizes = (
        {"ref": 8, "proc": 20000, "s256": 60, "s128": 120}
        if args.quick
        else {"ref": 30, "proc": 100000, "s256": 250, "s128": 500}
    )
    # warm-up (imports, first ffmpeg start, first h5py file)
    with tempfile.TemporaryDirectory() as tmp:
        reference_generate("uniform_motion", 1, Path(tmp) / "w.hdf5")
        generate("uniform_motion", "eval", Path(tmp) / "w.h5", limit=8, resolution=32, progress=False)
    rows = []
    for scenario in ("uniform_motion", "collision"):
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            ref_rate, ref_bytes = measure(
                lambda s=scenario, p=d / "ref.hdf5": reference_generate(s, sizes["ref"], p),
                d / "ref.hdf5",
                sizes["ref"],
            )
            rows.append(
                (scenario, "reference (Box2D + float64 256² + MP4 in HDF5)", ref_rate, ref_rate, ref_bytes)
            )
            for label, res, proc, n in (
                ("phylaw procedural (states only)", 128, True, sizes["proc"]),
                ("phylaw stored frames 256²", 256, False, sizes["s256"]),
                ("phylaw stored frames 128²", 128, False, sizes["s128"]),
            ):
                rate, size = phylaw_run(scenario, n, d / f"{res}{proc}.h5", res, proc)
                rows.append((scenario, label, rate, ref_rate, size))
    print("one core, 32 frames per video; rates are videos per CPU-second (process + children)\n")
    print("| scenario | method | videos/s/core | × reference | bytes/video |")
    print("| --- | --- | ---: | ---: | ---: |")
    for scenario, label, rate, ref, size in rows:
        print(f"| {scenario} | {label} | {rate:,.1f} | {rate / ref:,.1f}× | {size:,.0f} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process (all runs): {peak:.0f} MB")


if __name__ == "__main__":
    main()
