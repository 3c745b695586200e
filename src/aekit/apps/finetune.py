"""A classifier from a pretrained encoder and a few labels: ``aekit finetune``.

The encoder of an autoencoder run (the layers from the input up to the code) gets a linear softmax
layer on top and the whole network is trained on a small, class-balanced labelled draw, end to end
(fine-tuning) or with the encoder frozen (a linear probe trained by gradient descent). The same
architecture from random initialisation (``from_scratch``) is the baseline that shows what the
unsupervised pretraining is worth: Hinton & Salakhutdinov, "Reducing the Dimensionality of Data with
Neural Networks", Science 2006 (1.2% MNIST error from a pretrained 784-500-500-2000 net); Bengio et al.,
"Greedy Layer-Wise Training of Deep Networks", NIPS 2007; Erhan et al., "Why Does Unsupervised
Pre-training Help Deep Learning?", JMLR 2010; Vincent et al., "Stacked Denoising Autoencoders", JMLR 2010.

The classifier trains through the one training loop (``aekit.train.loop.fit``): it declares that it trains
on the batch fields ``x`` and ``y``, so labelled data is required and every batch carries its labels.

A classifier directory holds ``config.json`` (the source run's model name and hyperparameters, the head,
the labelled draw, the training settings), ``model.safetensors`` (encoder and head weights) and
``metrics.json`` (test accuracy and error); :func:`load_classifier` rebuilds it from JSON and
safetensors only.
"""
from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aekit import inference, io
from aekit.atomic import atomic_path
from aekit.errors import AekitError
from aekit.models.base import Output, Trainable, code_size, require
from aekit.settings import make_train_config
from aekit.train.loop import fit

KIND = "classifier"  # config.json's "kind" for a classifier directory (an AE run has none)


# ---- the labelled draw -------------------------------------------------------------------------------
def draw_labelled(y, n: int | str, seed: int = 0, n_classes: int | None = None) -> torch.Tensor:
    """Indices (sorted, int64) of ``n`` class-balanced labelled examples of labels ``y``, drawn with ``seed``.

    Every class gets ``n // K`` examples; the ``n % K`` left over go one each to classes picked at random.
    ``n="all"`` (or ``n == len(y)``) takes every example, whatever the balance.
    """
    y = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y, dtype=np.int64)
    k = int(n_classes) if n_classes is not None else int(y.max()) + 1
    if isinstance(n, str):
        if n != "all":
            raise AekitError(f"--labels must be a number of labelled examples or 'all', got {n!r}")
        n = len(y)
    n = int(n)
    if n > len(y):
        raise AekitError(f"--labels {n} is more than the {len(y)} training examples: ask for at most {len(y)} "
                         f"(or 'all')")
    if n < k:
        raise AekitError(f"--labels {n} is fewer than the {k} classes: ask for at least {k} so every class "
                         f"has an example")
    if n == len(y):
        return torch.arange(len(y))
    rng = np.random.default_rng(seed)
    quota = np.full(k, n // k)
    quota[rng.permutation(k)[: n % k]] += 1
    chosen = []
    for c in range(k):
        members = np.flatnonzero(y == c)
        if len(members) < quota[c]:
            raise AekitError(f"class {c} has only {len(members)} training examples but a balanced draw of {n} "
                             f"needs {quota[c]}: ask for at most {len(members) * k} labels (or 'all')")
        chosen.append(rng.choice(members, size=int(quota[c]), replace=False))
    return torch.from_numpy(np.sort(np.concatenate(chosen)))



# ---- the encoder of an autoencoder -------------------------------------------------------------------
def code_encoder(model) -> nn.Module:
    """The part of ``model`` that maps an input batch to its codes, as a trainable ``nn.Module`` sharing the
    model's parameters (copy it to keep the model unchanged): ``model.code_network()``. Models without the
    capability "trainable_encoder" (discrete codes pass no gradient) are refused with the models that have it."""
    require(model, "trainable_encoder", "fine-tuning")
    return model.code_network()


# ---- the classifier ----------------------------------------------------------------------------------
class Classifier(Trainable):
    """``encoder`` (inputs -> codes of ``code_dim`` numbers) then a linear layer to ``n_classes`` logits.

    It is trained by the one loop (``Trainable``): ``forward(batch)`` returns the softmax cross-entropy of
    ``batch["y"]`` as the loss ``cls``. ``logits(x)`` takes plain inputs. With ``freeze`` the encoder
    gets no gradient and stays in eval mode (batch-norm statistics and dropout included): a linear probe.
    """

    name = KIND
    phases = ("cls",)
    requires_fields = ("x", "y")

    def __init__(self, encoder: nn.Module, input_shape, code_dim: int, n_classes: int, freeze: bool = False):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(int(code_dim), int(n_classes))
        self.input_shape = tuple(int(s) for s in input_shape)
        self.input_dim = math.prod(self.input_shape)
        self.freeze = bool(freeze)
        for p in self.encoder.parameters():
            p.requires_grad_(not self.freeze)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze:
            self.encoder.eval()
        return self

    def check_input(self, x: torch.Tensor) -> None:
        if math.prod(x.shape[1:]) != self.input_dim:
            raise AekitError(f"data items have shape {tuple(x.shape[1:])} but the classifier was built for "
                             f"{self.input_shape}: pass data shaped like its training data")

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.input_shape)  # (B, *item): flat rows of the right size too
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            z = self.encoder(x)  # (B, K)
        return self.head(z.reshape(z.shape[0], -1))  # (B, n_classes)

    def forward(self, batch) -> Output:
        logits = self.logits(batch["x"])  # (B, n_classes)
        loss = F.cross_entropy(logits.float(), batch["y"])  # in fp32 under bf16 autocast
        return Output(None, None, {"cls": loss}, {"logits": logits})


def _code_dim(encoder: nn.Module, input_shape) -> int:
    with torch.no_grad():
        was = encoder.training
        encoder.eval()  # one example through batch norm in train mode would fail
        device = next((p.device for p in encoder.parameters()), torch.device("cpu"))
        z = encoder(torch.zeros(1, *input_shape, device=device))
        encoder.train(was)
    return int(math.prod(z.shape[1:]))


def build_classifier(model, n_classes: int, *, freeze: bool = False, from_scratch: bool = False,
                     seed: int = 0) -> Classifier:
    """A classifier on a copy of ``model``'s encoder (``model`` is left as it was).

    ``from_scratch`` re-initialises every layer of the encoder (PyTorch's default initialisation, seeded):
    the same architecture without pretraining. The head is initialised from ``seed`` in both cases.
    """
    import copy

    code_size(model, "a classifier head on the code")  # one fixed-size vector per item
    encoder = copy.deepcopy(code_encoder(model))
    torch.manual_seed(seed)
    if from_scratch:
        for module in encoder.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    shape = tuple(model.input_shape)
    return Classifier(encoder, shape, _code_dim(encoder, shape), n_classes, freeze=freeze)


def predict_logits(classifier: Classifier, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """Logits ``(N, n_classes)`` of every item of ``x``, in eval mode without gradients, on the CPU."""
    return inference.batched(classifier.logits, classifier, x, batch_size)


def accuracy(classifier: Classifier, data, batch_size: int = 2048) -> float:
    """Fraction of ``data``'s items whose most likely class is their label."""
    if data.y is None:
        raise AekitError(f"dataset {data.name} has no labels: accuracy needs labelled data")
    return float((predict_logits(classifier, data.x, batch_size).argmax(1) == data.y).float().mean())


# ---- training and the classifier directory -------------------------------------------------------------
def default_budget(n_labels: int, steps: int = 1000) -> dict[str, Any]:
    """Training settings for ``n_labels`` labelled examples: at least ``steps`` Adam steps (lr 1e-3, cosine
    decay) and at least 10 epochs, in batches of up to 100 (128 past 1000 labels).

    Few labels are cheap to revisit, so small draws get many epochs (100 labels: 1000 epochs of one full
    batch). A fixed number of steps, not of epochs, is what lets a linear layer on a small code fit a small
    draw as well as a large one. ``benchmarks/pretraining.py`` uses settings tuned on held-out MNIST images.
    """
    n_labels = max(1, int(n_labels))
    batch = min(n_labels, 100) if n_labels <= 1000 else 128
    per_epoch = max(1, n_labels // batch)  # the loop drops a ragged last batch
    return dict(batch_size=batch, epochs=max(10, math.ceil(steps / per_epoch)), lr=1e-3, schedule="cosine")


def finetune(source, train, test=None, *, labels: int | str = 100, label_seed: int = 0, freeze: bool = False,
             from_scratch: bool = False, val_labels: int = 0, out: str | Path | None = None,
             data_source: dict | None = None, **settings: Any) -> io.Run:
    """Train a classifier on ``labels`` labelled examples of ``train``, from ``source``'s encoder.

    ``source`` is an autoencoder run directory, an ``io.Run`` or a built model. ``settings`` are training
    settings (``epochs``, ``lr``, ``batch_size``, ``precision``, ``seed``...; the seed also initialises the
    head); those not given come from :func:`default_budget` for the number of labelled examples.
    ``val_labels`` (>0) holds that many of the drawn examples out (class-balanced), evaluates
    them after every epoch and keeps the weights of the epoch with the best held-out accuracy: early
    stopping without ever looking at ``test``. Returns an ``io.Run`` whose ``model`` is the classifier.
    """
    run = io.load_run(source) if isinstance(source, (str, Path)) else source
    model, source_config = (run.model, run.config) if isinstance(run, io.Run) else (run, None)
    if train.y is None:
        raise AekitError(f"dataset {train.name} has no labels: fine-tuning a classifier needs labelled training "
                         f"data (a dataset with classes, or a folder with one subfolder per class)")
    if test is not None and test.y is None:
        raise AekitError(f"the test data of {test.name} has no labels: pass labelled test data or none")
    model.check_input(train.x[:1])
    code_encoder(model)  # refuses discrete codes before any work
    n_classes = train.n_classes
    drawn = draw_labelled(train.y, labels, seed=label_seed, n_classes=n_classes)
    cfg = make_train_config({**default_budget(len(drawn) - int(val_labels or 0)), **settings})
    val = None
    if val_labels:
        if not n_classes <= int(val_labels) <= len(drawn) - n_classes:
            raise AekitError(f"--val-labels must give every class a held-out example and leave one per class for "
                             f"training: choose {n_classes}..{len(drawn) - n_classes} of the {len(drawn)} drawn")
        held = draw_labelled(train.y[drawn], int(val_labels), seed=label_seed + 1, n_classes=n_classes)
        keep = torch.ones(len(drawn), dtype=torch.bool)
        keep[held] = False
        val, drawn = train.subset(drawn[held]), drawn[keep]
    labelled = train.subset(drawn)

    classifier = build_classifier(model, n_classes, freeze=freeze, from_scratch=from_scratch, seed=cfg.seed)
    best = {"accuracy": -1.0, "epoch": 0, "state": None}

    def keep_best(row: dict) -> None:
        acc = accuracy(classifier, val, cfg.eval_batch_size)
        row["val_accuracy"] = acc
        if acc > best["accuracy"]:
            best.update(accuracy=acc, epoch=row["epoch"],
                        state={k: v.detach().clone() for k, v in classifier.state_dict().items()})

    t0 = time.perf_counter()
    result = fit(classifier, labelled, cfg, on_epoch_end=keep_best if val is not None else None)
    if best["state"] is not None:
        classifier.load_state_dict(best["state"])
    seconds = time.perf_counter() - t0

    metrics: dict[str, Any] = {"n_labelled": len(labelled), "train_seconds": round(seconds, 3),
                               "epochs": cfg.epochs, "steps": result.history[-1]["step"] if result.history else 0,
                               "train_accuracy": accuracy(classifier, labelled, cfg.eval_batch_size)}
    if val is not None:
        metrics.update(n_val=len(val), best_epoch=best["epoch"], val_accuracy=best["accuracy"])
    if test is not None:
        acc = accuracy(classifier, test, cfg.eval_batch_size)
        metrics.update(test_accuracy=acc, test_error=1.0 - acc, n_test=len(test))
    config = {
        "kind": KIND,
        "encoder": {"model": model.name, "hparams": model.hparams,
                    "init": "random" if from_scratch else "pretrained", "frozen": bool(freeze),
                    "run": str(run.path) if isinstance(run, io.Run) and run.path is not None else None},
        "head": {"code_dim": classifier.head.in_features, "n_classes": n_classes, "classes": train.classes},
        "labels": {"requested": labels, "seed": label_seed, "n_train": len(labelled),
                   "n_val": 0 if val is None else len(val),
                   "per_class": torch.bincount(labelled.y, minlength=n_classes).tolist()},
        "train": cfg.to_dict(),
        "data": {**train.describe(), **({"source": data_source} if data_source else
                                        {"source": (source_config or {}).get("data", {}).get("source")})},
        "versions": io.versions(),
    }
    if out is not None:
        save_classifier(out, classifier, config, metrics, result.history)
    return io.Run(model=classifier, config=config, metrics=metrics, path=Path(out) if out is not None else None)


def save_classifier(out: str | Path, classifier: Classifier, config: dict, metrics: dict,
                    history: list[dict] | None = None) -> None:
    """Write a classifier directory: weights last, so a directory with ``model.safetensors`` is complete."""
    out = Path(out)
    io.write_json(out / io.CONFIG, config)
    io.write_json(out / io.METRICS, metrics)
    if history:
        fields = list(dict.fromkeys(k for r in history for k in r))
        with atomic_path(out / io.LOG) as tmp, tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(history)
    io.save_tensors(out / io.WEIGHTS, classifier.state_dict())


def is_classifier_dir(path: str | Path) -> bool:
    config = Path(path) / io.CONFIG
    return config.is_file() and io.kind_of(io.read_json(config), io.CONFIG) == KIND


def load_classifier(path: str | Path) -> io.Run:
    """Rebuild a saved classifier from ``config.json`` and ``model.safetensors`` (no code from the files runs)."""
    from aekit.registry import build

    path, config = io.read_dir(path, KIND)
    enc, head = config["encoder"], config["head"]
    model = build(enc["model"], **enc["hparams"])
    encoder = code_encoder(model)
    classifier = Classifier(encoder, model.input_shape, head["code_dim"], head["n_classes"], freeze=enc["frozen"])
    io.load_state(classifier, io.load_tensors(path / io.WEIGHTS), str(path / io.WEIGHTS))
    classifier.eval()
    metrics = io.read_json(path / io.METRICS) if (path / io.METRICS).exists() else {}
    return io.Run(model=classifier, config=config, metrics=metrics, path=path)
