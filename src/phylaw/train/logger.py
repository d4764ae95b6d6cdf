"""Training metrics: ``metrics.csv`` (one row per log interval) and TensorBoard scalars, rank 0 only.

On resume the CSV is cut back to the rows up to the resumed step and TensorBoard purges later events, so the
logs of a killed-and-resumed run equal those of an uninterrupted one (apart from timing columns).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from phylaw.io import atomic_path

COLUMNS = ("step", "loss", "lr", "grad_norm", "samples_per_s", "tokens_per_s", "mfu")


class MetricsLogger:
    def __init__(
        self, run_dir: Path, start_step: int, *, tensorboard: bool = True, columns: tuple[str, ...] = COLUMNS
    ) -> None:
        self.path = run_dir / "metrics.csv"
        self.columns = columns
        kept: list[dict[str, str]] = []
        if self.path.is_file():
            with self.path.open(newline="") as f:
                kept = [r for r in csv.DictReader(f) if int(r["step"]) <= start_step]
        with atomic_path(self.path) as tmp, tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(kept)
        self._file = self.path.open("a", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=columns)
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(run_dir / "tb"), purge_step=start_step + 1)

    def log(self, row: dict[str, Any]) -> None:
        self._writer.writerow({k: row.get(k, "") for k in self.columns})
        self._file.flush()
        if self._tb is not None:
            for key, value in row.items():
                if key != "step" and value == value:  # skip NaN (e.g. MFU on CPU)
                    self._tb.add_scalar(f"train/{key}", value, row["step"])

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(run_dir: str | Path) -> list[dict[str, float]]:
    """The rows of a run's ``metrics.csv`` as floats."""
    with (Path(run_dir) / "metrics.csv").open(newline="") as f:
        return [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(f)]
