"""Pictures of the videos the judge flags: side-by-side GIFs (ground truth | video) and the judge's reasons.

``phylaw evaluate`` with the ``abnormal`` metric writes ``flagged/<index>.gif`` for up to ``MAX_GIFS`` flagged
videos (spread over the splits, lowest dataset index first within a split, so the choice is deterministic)
and returns a Markdown section for summary.md listing every flagged video with its reasons and, where drawn,
its GIF. A reader can check by eye what the judge called abnormal.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from phylaw.experiments.gallery import side_by_side_frames, write_gif

MAX_GIFS = 8  # GIFs per evaluation (the list in summary.md names every flagged video)
MAX_LISTED = 50  # flagged videos listed by name in summary.md
GIF_SIZE = 192  # px per panel


def pick(flagged: pd.DataFrame, n: int) -> list[int]:
    """Row positions of up to ``n`` flagged videos, round-robin over the splits in order of index."""
    by_split = [g.sort_values("index").index.tolist() for _, g in flagged.groupby("split", sort=True)]
    out: list[int] = []
    while len(out) < n and any(by_split):
        for rows in by_split:
            if rows and len(out) < n:
                out.append(rows.pop(0))
    return out


def pair_frames(gt: np.ndarray, video: np.ndarray, cond_frames: int, title: str) -> list[Image.Image]:
    """GIF frames: ground truth | video, each resized to GIF_SIZE, labelled with the frame index (the
    gallery's side-by-side frames without trajectories: PHYRE scenes have many bodies)."""
    none = np.zeros((min(len(gt), len(video)), 0, 2))
    return side_by_side_frames(gt, video, none, none, cond_frames=cond_frames, size=GIF_SIZE, title=title)


def write_flagged(
    rows: pd.DataFrame,
    metric: str,
    read_pair: Callable[[int, str], tuple[np.ndarray, np.ndarray]],
    out: Path,
    cond_frames: int,
) -> list[str]:
    """GIFs of flagged videos under ``out/flagged`` and the summary.md section (module docstring).
    ``read_pair(index, source name) -> (video, ground truth)``."""
    shutil.rmtree(out / "flagged", ignore_errors=True)  # GIFs of an earlier run would look current
    r = rows[(rows["metric"] == metric) & (rows["status"] == "ok")]
    bad = r[r["value"] >= 1].reset_index(drop=True)
    lines = ["## Videos the judge flags", ""]
    if bad.empty:
        return [*lines, f"None of the {len(r)} videos scored is flagged abnormal.", ""]
    lines.append(
        f"{len(bad)} of {len(r)} videos flagged abnormal (Type 3). GIFs: ground truth | video, for up to "
        f"{MAX_GIFS} of them; reasons from the rule-based judge (docs/video_metrics.md)."
    )
    lines.append("")
    drawn = {}
    for pos in pick(bad, MAX_GIFS):
        row = bad.loc[pos]
        video, gt = read_pair(int(row["index"]), str(row["source"]))
        path = out / "flagged" / f"{int(row['index']):06d}.gif"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_gif(pair_frames(gt, video, cond_frames, f"#{int(row['index'])}"), path)
        drawn[pos] = path.relative_to(out)
    lines += ["| index | source | split | reasons | GIF |", "|---|---|---|---|---|"]
    for pos, row in bad.head(MAX_LISTED).iterrows():
        gif = f"![{int(row['index'])}]({drawn[pos]})" if pos in drawn else ""
        detail = row.get("detail", "")
        reasons = ("" if pd.isna(detail) else str(detail)).replace("|", "/")
        lines.append(f"| {int(row['index'])} | {row['source']} | {row['split']} | {reasons} | {gif} |")
    if len(bad) > MAX_LISTED:
        lines.append(
            f"| … | {len(bad) - MAX_LISTED} more in metrics.csv (metric abnormal, column detail) | | | |"
        )
    return [*lines, ""]
