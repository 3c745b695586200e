"""A soak: train for an hour with periodic evaluation and show the process's memory stays flat.

Each round continues the same run by one epoch (``aekit.train(..., resume=True)``: checkpoint read and
written, log extended), evaluates it on the test split (reconstruction, probe, clustering), and reloads it
from disk with ``aekit.load``, as a long job with periodic evaluation does. After every round the resident
set size (VmRSS) and its peak (VmHWM) are recorded. A leak shows as a climb: the result gives the RSS at
each tenth of the run and the least-squares slope over its second half, in MiB per hour.

    python benchmarks/soak.py                       # an hour on MNIST (60,000 / 10,000 images)
    python benchmarks/soak.py --minutes 3 --limit 2000 --results soak_quick
"""
from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import machine, shared_data_dir, write_results

import aekit
from aekit.evaluate import evaluate_model


def memory_mib() -> tuple[float, float]:
    """(resident set size, its peak so far) of this process in MiB, from /proc/self/status (Linux)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    kib = lambda key: float(fields[key].split()[0])  # noqa: E731  "123456 kB"
    return kib("VmRSS") / 1024, kib("VmHWM") / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=60.0, help="how long to keep going")
    p.add_argument("--data", default="mnist")
    p.add_argument("--limit", type=int, default=None, help="fewer images per split (a quick look)")
    p.add_argument("--results", default="soak")
    args = p.parse_args()

    root = shared_data_dir()
    train = aekit.data.load(args.data, split="train", data_dir=root, limit=args.limit)
    test = aekit.data.load(args.data, split="test", data_dir=root, limit=args.limit)
    settings = dict(latent_dim=30, batch_size=128, lr=1e-3, evaluate=False, progress=False)
    rows, t0 = [], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aekit-soak-") as tmp:
        out = Path(tmp) / "run"
        epoch = 0
        while (time.perf_counter() - t0) / 60 < args.minutes:
            epoch += 1
            aekit.train("ae", train, out=out, resume=epoch > 1, epochs=epoch, **settings)
            model = aekit.load(out)
            metrics = evaluate_model(model, test, train=train, metrics=["reconstruction", "probe", "clustering"])
            del model
            gc.collect()
            rss, peak = memory_mib()
            row = {"epoch": epoch, "minutes": round((time.perf_counter() - t0) / 60, 2), "rss_mib": round(rss, 1),
                   "peak_mib": round(peak, 1), "probe": metrics.get("probe_accuracy")}
            rows.append(row)
            print(row, flush=True)

    minutes = np.array([r["minutes"] for r in rows])
    rss = np.array([r["rss_mib"] for r in rows])
    half = minutes >= minutes[-1] / 2
    slope = float(np.polyfit(minutes[half], rss[half], 1)[0] * 60) if half.sum() >= 2 else None
    tenths = [rows[min(len(rows) - 1, int(round(f * (len(rows) - 1))))] for f in np.linspace(0, 1, 11)]
    result = {"machine": machine(), "data": args.data, "train_images": len(train), "test_images": len(test),
              "rounds": len(rows), "minutes": float(minutes[-1]), "rss_mib_first": float(rss[0]),
              "rss_mib_last": float(rss[-1]), "peak_mib": max(r["peak_mib"] for r in rows),
              "rss_slope_second_half_mib_per_hour": slope, "tenths": tenths, "rows": rows}
    path = write_results(args.results, result)
    print(f"{len(rows)} rounds in {minutes[-1]:.1f} min: RSS {rss[0]:.0f} -> {rss[-1]:.0f} MiB, peak "
          f"{result['peak_mib']:.0f} MiB, slope over the second half {slope if slope is None else round(slope, 1)} "
          f"MiB/hour; results: {path}")


if __name__ == "__main__":
    main()
