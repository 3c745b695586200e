"""``aekit pretrain``: greedy layer-wise pretraining of a deep autoencoder, then end-to-end fine-tuning
(:mod:`aekit.apps.pretrain`)."""
from __future__ import annotations

from aekit.commands.common import (
    add_data_args, add_train_args, check_out, print_metrics, refuse_existing_run, source_of,
    train_settings,
)


def cmd_pretrain(args) -> int:
    from aekit.apps.pretrain import pretrain_and_finetune

    if args.out:
        refuse_existing_run(check_out(args.out, folder=True))
    settings = train_settings(args)
    source = source_of(args)
    train_data, test_data = source.load("train"), source.load("test")
    run = pretrain_and_finetune(train_data, test_data, widths=args.widths, layer_epochs=args.layer_epochs,
                                out=args.out, data_source=source.to_dict(), noise=args.noise,
                                noise_level=args.noise_level, **settings)
    if run.is_main:  # under DDP only the first process reports
        print_metrics(run.metrics, args.json)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("pretrain", help="greedy layer-wise pretraining, then end-to-end fine-tuning")
    add_data_args(p, required=True)
    p.add_argument("--widths", required=True, help="layer widths after the input, e.g. 1000,500,250,30")
    p.add_argument("--layer-epochs", dest="layer_epochs", type=int, default=5, help="epochs per layer")
    p.add_argument("--noise", default=None, help="pretrain denoising layers: masking | gaussian | salt_and_pepper")
    p.add_argument("--noise-level", dest="noise_level", type=float, default=0.3)
    p.add_argument("--out", default=None, help="run directory for the fine-tuned deep AE")
    add_train_args(p)
    p.set_defaults(func=cmd_pretrain)
