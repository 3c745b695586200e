"""Per-epoch metric logs: a CSV file always, TensorBoard too when it is installed.

``log.csv`` is rewritten whole and atomically after each epoch, before that epoch's checkpoint: a crash
leaves it either as it was or with the new row, never half a row, and never a checkpoint whose epoch the
log lacks (a resume drops rows past the checkpoint's epoch, see :meth:`MetricLogger.load_existing`).
"""
from __future__ import annotations

import csv
from pathlib import Path

from aekit.atomic import atomic_path


class MetricLogger:
    def __init__(self, run_dir: Path | None, enabled: bool = True):
        self.path = run_dir / "log.csv" if (run_dir is not None and enabled) else None
        self.rows: list[dict] = []
        self._tb = None
        if self.path is not None:
            try:  # optional: TensorBoard is not a dependency
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(run_dir / "tensorboard"))
            except Exception:  # ImportError, or tensorboard missing behind torch's import
                self._tb = None

    def load_existing(self, upto_epoch: int) -> None:
        """On resume from the checkpoint of epoch ``upto_epoch``, keep the rows already logged up to it, so
        the CSV stays one continuous history. Rows past it (logged before a crash stopped their checkpoint)
        are dropped: those epochs are trained again and logged anew."""
        if self.path is not None and self.path.exists():
            with self.path.open(newline="") as f:
                self.rows = [dict(r) for r in csv.DictReader(f) if _epoch(r) <= upto_epoch]

    def log(self, row: dict) -> None:
        self.rows.append(row)
        if self.path is None:
            return
        fields = list(dict.fromkeys(k for r in self.rows for k in r))
        # rewritten whole (columns may appear later: val_*), and atomically
        with atomic_path(self.path) as tmp, tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(self.rows)
        if self._tb is not None:
            for k, v in row.items():
                if k not in ("epoch", "step") and isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, int(row["step"]))
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def _epoch(row: dict) -> int:
    try:
        return int(row.get("epoch") or 0)
    except ValueError:  # a damaged row: not part of a history to continue
        return 1 << 62
