"""Per-epoch metric logs: a CSV file always, TensorBoard too when it is installed."""
from __future__ import annotations

import csv
from pathlib import Path


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

    def load_existing(self) -> None:
        """On resume, keep the rows already logged so the CSV stays one continuous history."""
        if self.path is not None and self.path.exists():
            with self.path.open() as f:
                self.rows = [dict(r) for r in csv.DictReader(f)]

    def log(self, row: dict) -> None:
        self.rows.append(row)
        if self.path is None:
            return
        fields = list(dict.fromkeys(k for r in self.rows for k in r))
        with self.path.open("w", newline="") as f:  # rewritten whole: columns may appear later (val_*)
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
