"""``aekit pretrain``: greedy layer-wise pretraining of a deep AE, then end-to-end fine-tuning."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from aekit.data_settings import settings_for_data
from aekit.errors import AekitError
from aekit.registry import build
from aekit.runs import train
from aekit.settings import make_train_config, parse_value, split_settings
from aekit.train.pretrain import init_autoencoder, pretrain_stack


def pretrain_and_finetune(train_data, test_data=None, *, widths, layer_epochs: int = 5,
                          out: str | Path | None = None, data_source: dict | None = None,
                          noise: str | None = None, noise_level: float = 0.3, **settings: Any):
    """Pretrain ``widths`` (after the input; the last is the code) layer by layer, then fine-tune.

    ``settings`` are the deep AE's hyperparameters and the fine-tuning settings; the layer-wise
    phase uses the same settings with ``epochs=layer_epochs`` (warm-up scaled alike). The shallow AEs have no normalisation
    layers; a deep AE with ``norm`` gets the pretrained linear layers and fresh norm layers between them.
    """
    given = widths
    if isinstance(widths, str):
        widths = parse_value(widths)
    try:
        widths = [int(w) for w in (widths if isinstance(widths, (list, tuple)) else [widths])]
    except (TypeError, ValueError):
        widths = []  # not whole numbers: reported below
    if not widths or any(w <= 0 for w in widths):
        raise AekitError(f"--widths must be positive layer sizes like 1000,500,250,30, got {given!r}")
    hparams, train_values = split_settings("ae", settings)
    hparams.update(hidden=widths[:-1], latent_dim=widths[-1])
    hparams = settings_for_data("ae", hparams, train_data)  # loss=auto chosen (and recorded), one that cannot fit refused
    cfg = make_train_config(train_values)
    # Layer-wise phases are shorter: the same settings, with the warm-up scaled by the same factor.
    layer_cfg = make_train_config({**train_values, "epochs": int(layer_epochs),
                                   "warmup_epochs": cfg.warmup_epochs * int(layer_epochs) / cfg.epochs})
    torch.manual_seed(cfg.seed)
    model = build("ae", input_shape=list(train_data.item_shape), **hparams)
    model.check_input(train_data.x[:1])
    t0 = time.perf_counter()
    stack = pretrain_stack(train_data, [model.input_dim, *widths], activation=model.hparams["activation"],
                           code_activation=model.hparams["code_activation"], loss=model.hparams["loss"],
                           config=layer_cfg, noise=noise, noise_level=noise_level)
    pretrain_seconds = time.perf_counter() - t0
    init_autoencoder(model, stack)
    run = train(model, train_data, test=test_data, out=out, config=cfg, data_source=data_source)
    run.metrics["pretrain_seconds"] = round(pretrain_seconds, 3)
    if run.path is not None and run.is_main:
        from aekit.io import METRICS, write_json

        write_json(run.path / METRICS, run.metrics)
    return run
