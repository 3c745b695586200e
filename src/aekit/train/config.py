"""Training settings: one dataclass, a comment on every field. ``--set key=value`` reaches these too."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from aekit.errors import AekitError


@dataclass
class TrainConfig:
    epochs: int = 10  # passes over the training data (for a stream: steps_per_epoch batches each)
    batch_size: int = 128  # examples per step, per device
    lr: float = 1e-3  # peak learning rate of every phase's optimiser
    optimizer: str = "adam"  # adam | adamw | sgd (momentum 0.9)
    betas: tuple[float, float] = (0.9, 0.999)  # Adam moment decay rates
    weight_decay: float = 0.0  # L2 (adam/sgd) or decoupled (adamw) weight decay
    schedule: str = "none"  # none | cosine | linear: decay of the lr after warm-up, to min_lr_ratio*lr
    warmup_epochs: float = 0.0  # linear warm-up length in epochs (fractions allowed)
    min_lr_ratio: float = 0.0  # final lr as a fraction of lr for cosine/linear schedules
    grad_clip: float | None = None  # clip the global gradient norm of each phase to this (None: off)
    precision: str = "32-true"  # 32-true | bf16-mixed (autocast; fast on CPUs with AMX and on GPUs)
    accelerator: str = "auto"  # cpu | cuda | mps | auto
    devices: int = 1  # processes / GPUs; >1 with strategy ddp
    strategy: str = "auto"  # auto | ddp (gloo on CPU, nccl on GPU)
    seed: int = 0  # seeds weights, batch order and noise; runs are bitwise repeatable on CPU
    steps_per_epoch: int | None = None  # for streams (infinite data) or to cut epochs short
    eval_every: int = 1  # evaluate on the validation data every this many epochs (0: only at the end)
    eval_batch_size: int = 2048  # batch size for evaluation and encoding (no gradients)
    progress: bool = True  # show a progress bar with each loss term
    # per-phase optimiser options over the model's own defaults (train/phases.py), e.g.
    # {"critic": {"lr_scale": 2, "betas": [0.5, 0.9], "steps": 5}}
    phase_options: dict[str, dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)  # JSON gives lists back
        checks = [
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (0 < self.lr < math.inf, "lr must be a finite number > 0"),
            (len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "betas must be two numbers in [0, 1)"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (self.warmup_epochs >= 0, "warmup_epochs must be >= 0"),
            (0 <= self.min_lr_ratio <= 1, "min_lr_ratio must lie in [0, 1]"),
            (self.eval_every >= 0, "eval_every must be >= 0 (0: only at the end)"),
            (self.eval_batch_size >= 1, "eval_batch_size must be >= 1"),
            (self.steps_per_epoch is None or self.steps_per_epoch >= 1, "steps_per_epoch must be >= 1 or None"),
            (0 <= self.seed < 2**32, "seed must be a whole number in [0, 2**32)"),
            (self.optimizer in ("adam", "adamw", "sgd"), "optimizer must be adam, adamw or sgd"),
            (self.schedule in ("none", "cosine", "linear"), "schedule must be none, cosine or linear"),
            (self.precision in ("32-true", "32", "bf16-mixed", "16-mixed", "bf16-true"),
             "precision must be 32-true or bf16-mixed"),
            (self.devices >= 1, "devices must be >= 1"),
            (self.grad_clip is None or self.grad_clip > 0, "grad_clip must be > 0 or None"),
        ]
        for ok, message in checks:
            if not ok:
                raise AekitError(f"bad training setting: {message}")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
