"""``phylaw inspect`` (what a dataset holds) and ``phylaw preview`` (GIF / MP4 / PNG contact sheet)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from phylaw.datasets.reader import PhylawDataset, open_dataset
from phylaw.errors import PhylawError
from phylaw.io import write_bytes

SHEET_FRAMES = 8  # frames per video on a PNG contact sheet (evenly spaced)
GAP = 2  # pixels between tiles
GAP_GREY = 160  # tile separators are grey: frames have white backgrounds


@dataclass(frozen=True)
class Summary:
    """What ``phylaw inspect`` prints."""

    paths: tuple[str, ...]
    scenario: str
    split: str
    ranges: str
    n_videos: int
    n_frames: int
    resolution: int
    frames_stored: bool
    seed: int
    source: str
    counts: dict[tuple[str, str], int]  # (split label, level) -> videos
    param_ranges: dict[str, tuple[float, float]]
    size_bytes: int
    fingerprint: str

    def lines(self) -> list[str]:
        frames = "stored (gzip)" if self.frames_stored else "procedural (rendered from states)"
        out = [
            f"dataset     {self.paths[0]}"
            + (f" (+ {len(self.paths) - 1} more shards)" if len(self.paths) > 1 else ""),
            f"scenario    {self.scenario}   split {self.split}   ranges {self.ranges}   source {self.source}",
            f"videos      {self.n_videos} x {self.n_frames} frames at {self.resolution}x{self.resolution}",
            f"frames      {frames}",
            f"size        {self.size_bytes / 1e6:.2f} MB ({self.size_bytes / max(self.n_videos, 1):.0f} bytes/video)",
            f"seed        {self.seed}   fingerprint {self.fingerprint}",
            "labels      " + "   ".join(f"{s}/{lv}: {n}" for (s, lv), n in sorted(self.counts.items())),
        ]
        out += [f"param {k:<5} [{_num(lo)}, {_num(hi)}]" for k, (lo, hi) in self.param_ranges.items()]
        return out


def summarize(path: str | Path) -> Summary:
    with open_dataset(path) as ds:
        counts: Counter[tuple[str, str]] = Counter()
        lo = np.full(len(ds.param_names), np.inf)
        hi = np.full(len(ds.param_names), -np.inf)
        for a in range(0, len(ds), 1 << 18):
            b = min(len(ds), a + (1 << 18))
            lab = ds.labels_slice(a, b)
            counts.update(zip(lab.split.tolist(), lab.level.tolist(), strict=True))
            p = ds.read("params", a, b)
            lo, hi = np.minimum(lo, p.min(axis=0)), np.maximum(hi, p.max(axis=0))
        c = ds.config
        return Summary(
            paths=tuple(str(p) for p in ds.paths), scenario=c.scenario, split=c.split, ranges=c.ranges,
            n_videos=len(ds), n_frames=c.n_frames, resolution=c.resolution, frames_stored=ds.frames_stored,
            seed=c.seed, source=c.source, counts=dict(counts),
            param_ranges={n: (float(lo[j]), float(hi[j])) for j, n in enumerate(ds.param_names)},
            size_bytes=sum(p.stat().st_size for p in ds.paths), fingerprint=ds.fingerprint,
        )  # fmt: skip


def parse_indices(text: str | None, grid: int | None, n: int) -> list[int]:
    """``--index 0,5,9`` or ``--grid N`` (N videos evenly spread over the dataset) → indices."""
    if grid is not None:
        if grid < 1:
            raise PhylawError(f"--grid must be >= 1, got {grid}")
        return sorted({int(i) for i in np.linspace(0, n - 1, min(grid, n)).round()})
    try:
        idx = [int(x) for x in (text or "0").split(",") if x.strip()]
    except ValueError:
        raise PhylawError(f"--index must be integers separated by commas, got {text!r}") from None
    bad = [i for i in idx if not 0 <= i < n]
    if bad or not idx:
        raise PhylawError(f"--index {bad or text} out of range (dataset has {n} videos)")
    return idx


def tile(videos: np.ndarray, cols: int) -> np.ndarray:
    """(V, T, H, W, 3) → (T, rows·(H+GAP)−GAP, cols·(W+GAP)−GAP, 3): the videos side by side, grey gaps."""
    v, t, h, w, _ = videos.shape
    rows = -(-v // cols)
    out = np.full((t, rows * (h + GAP) - GAP, cols * (w + GAP) - GAP, 3), GAP_GREY, np.uint8)
    for j in range(v):
        y, x = (j // cols) * (h + GAP), (j % cols) * (w + GAP)
        out[:, y : y + h, x : x + w] = videos[j]
    return out


def contact_sheet(videos: np.ndarray) -> np.ndarray:
    """(V, T, H, W, 3) → one image: a row per video, SHEET_FRAMES evenly spaced frames per row."""
    t = videos.shape[1]
    picks = np.unique(np.linspace(0, t - 1, min(SHEET_FRAMES, t)).round().astype(int))
    rows = videos[:, picks]  # (V, F, H, W, 3)
    return tile(rows.reshape(-1, 1, *rows.shape[2:]), cols=len(picks))[0]


def preview(
    path: str | Path, out: str | Path, *, index: str | None = None, grid: int | None = None,
    resolution: int | None = None, fps: int = 10,
) -> Path:  # fmt: skip
    """Write a GIF, MP4 or PNG contact sheet of the selected videos to ``out``."""
    out = Path(out)
    kind = out.suffix.lower()
    if kind not in (".gif", ".mp4", ".png"):
        raise PhylawError(f"--out must end in .gif, .mp4 or .png, got {out.name!r}")
    ds: PhylawDataset
    with open_dataset(path) as ds:
        idx = parse_indices(index, grid, len(ds))
        videos = np.stack([ds.frames(i, resolution) for i in idx])  # (V, T, H, W, 3)
    if kind == ".png":
        data = iio.imwrite("<bytes>", contact_sheet(videos), extension=".png")
    else:
        movie = tile(videos, cols=int(np.ceil(np.sqrt(len(idx)))))  # (T, H', W', 3)
        if kind == ".gif":
            data = iio.imwrite(
                "<bytes>", movie, extension=".gif", plugin="pillow", duration=1000 / fps, loop=0
            )
        else:
            from phylaw.io import encode_mp4

            # H.264 needs even sizes: pad odd ones with one white row/column (nothing of the video is cut)
            pad = ((0, 0), (0, movie.shape[1] % 2), (0, movie.shape[2] % 2), (0, 0))
            data = encode_mp4(np.pad(movie, pad, constant_values=255), fps=fps)
    return write_bytes(out, data)


def _num(x: float) -> str:
    """A parameter bound for ``inspect``: integers (phyre's template/task/trial) in full, others to 4 digits."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:.4g}"
