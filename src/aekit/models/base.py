"""The contract every aekit model follows (see DESIGN.md, "The model contract").

- ``encode(x) -> z`` is cheap and computes no loss; models with a decoder have ``decode(z) -> x_hat``.
- ``forward(batch) -> Output(x_hat, z, losses, extras)``: ``batch`` is a ``Batch`` of named fields (``x``,
  and ``y`` etc. where the data has them); fields a model does not produce are None; loss values are
  already weighted.
- **Capabilities are declared**: ``capabilities`` names what a model can do beyond encoding (``decode``,
  ``sample``, ``likelihood``, ``code_indices``, ``trainable_encoder``, ``convert``), ``code_shape`` is the
  shape of one code (``TIME`` marks one code per time step; ``code_size`` refuses those where one
  vector per item is needed) and ``requires_fields`` the batch fields it trains on. Commands, evaluation and tests
  ask :func:`require` / ``model.can(...)``; they never check a model's class or name.
- Several players declare ``phases`` (and ``phase_options``, their own optimiser settings); the one training
  loop steps, for each phase, the parameters of ``phase_parameters(phase)`` on the sum of
  ``phase_losses(batch, phase, ctx)``, where ``ctx`` carries detached tensors from one phase to the next.
- Models fitted in closed form (PCA) set ``closed_form = True`` and implement ``fit_closed_form``.
- Constructor keyword arguments are recorded in ``self.hparams`` so that ``build(name, **hparams)``
  rebuilds the model from a saved run.
"""
from __future__ import annotations

import functools
import inspect
import math
from typing import Any, ClassVar, Iterable, NamedTuple

import torch
from torch import nn

from aekit.errors import AekitError


class Output(NamedTuple):
    x_hat: torch.Tensor | None  # reconstruction, same shape as the input (None: the model has no decoder)
    z: torch.Tensor | None  # the code (None for a model that makes none, e.g. a classifier)
    losses: dict[str, torch.Tensor]  # weighted loss terms; the training loss is their sum
    extras: dict[str, Any]  # anything else a model wants to report (indices, logits, ...)


# What a model can do beyond ``encode``: a model lists those it has in ``capabilities``. Each name maps to
# what the model then has (for messages) and the methods that come with it.
CAPABILITIES = {
    "decode": ("decoder", "decode(z), reconstruct(x)"),
    "sample": ("prior to sample codes from", "sample_prior(n)"),
    "likelihood": ("posterior and likelihood", "negative_elbo(x), nll(x, k)"),
    "code_indices": ("discrete code indices", "code_indices(x)"),
    "trainable_encoder": ("differentiable encoder (discrete codes pass no gradient)", "code_network()"),
    "convert": ("way to convert between factors (e.g. speakers)", "convert(x, target)"),
}


FIELD_MEANINGS = {"x": "inputs", "y": "labels", "lengths": "sequence lengths", "speaker": "speaker ids",
                  "next": "next items"}  # for messages about batch fields


def models_with(capability: str) -> list[str]:
    from aekit.registry import MODELS, model_names

    return [n for n in model_names() if capability in MODELS[n].capabilities]


def require(model, capability: str, needed_by: str) -> None:
    """Refuse, in one line that names the capability and the models which have it, a model that lacks it."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}")
    if capability not in model.capabilities:
        others = models_with(capability)
        raise AekitError(f"model {model.name!r} has no {CAPABILITIES[capability][0]}, which {needed_by} needs "
                         f"(capability {capability!r}): use a run of "
                         f"{', '.join(others) if others else 'a model that declares it'}")


TIME = None  # an entry of ``code_shape``: one code per time step, as many steps as the input has (speech, text)


def code_size(model, needed_by: str) -> int:
    """How many numbers one item's code holds, for what needs one fixed-size vector per item (an index, a probe,
    a latent grid). A model with one code per time step (``TIME`` in its ``code_shape``) is refused in one line."""
    shape = tuple(model.code_shape)
    if TIME in shape:
        shown = "(" + ", ".join("time" if s is TIME else str(s) for s in shape) + ")"
        raise AekitError(f"model {model.name!r} makes one code per time step (code_shape {shown}), and {needed_by} "
                         f"needs one fixed-size code per item: write the codes with `aekit embed` and pool them over "
                         f"time (e.g. their mean), or use a model with one code per item")
    return math.prod(shape)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise AekitError(
        f"hyperparameter value {value!r} cannot be saved with the run: use numbers, strings, lists or None"
    )


def constructor_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """A model's keyword arguments: its own, then (through ``**kwargs``) its parents' not overridden.

    Variants declare only what they add (``def __init__(self, noise=..., **ae_options)``); this walks
    up the class chain so ``build``, ``--set`` and the saved hyperparameters see the full list.
    """
    params: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if klass is Model or not issubclass(klass, Model):
            break
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        follow = False
        for name, p in list(_signature(getattr(init, "__wrapped__", init)).parameters.items())[1:]:
            if p.kind is inspect.Parameter.VAR_KEYWORD:
                follow = True
            elif p.kind is not inspect.Parameter.VAR_POSITIONAL:
                params.setdefault(name, p)
        if not follow:
            break
    return params


def _signature(function) -> inspect.Signature:
    """``function``'s signature with its annotations as types (config.json is checked against them, see
    ``aekit.schema``); a model whose annotations cannot be evaluated keeps them as text, which checks nothing."""
    try:
        return inspect.signature(function, eval_str=True)
    except (NameError, TypeError, SyntaxError, AttributeError):
        return inspect.signature(function)


class FeatureSoftmax(nn.Module):
    """Softmax over all of an example's features (a distribution over the vocabulary), whatever its shape."""

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.softmax(raw.flatten(1), dim=1).reshape(raw.shape)  # (B, ...) -> (B, D) -> (B, ...)


class Trainable(nn.Module):
    """What the training loop asks of anything it trains: an autoencoder (``Model``) or a classifier built on
    one's encoder (``apps/finetune.py``)."""

    name: ClassVar[str] = "?"
    capabilities: ClassVar[frozenset[str]] = frozenset()  # declared by each model, never guessed
    requires_fields: ClassVar[tuple[str, ...]] = ("x",)  # batch fields the model trains on
    phases: ClassVar[tuple[str, ...]] = ("ae",)
    phase_options: ClassVar[dict[str, dict[str, Any]]] = {}  # each phase's optimiser defaults (train/phases.py)
    closed_form: ClassVar[bool] = False

    def can(self, capability: str) -> bool:
        return capability in self.capabilities

    def check_fields(self, fields, what: str = "training") -> None:
        """Refuse data that lacks a field this model trains on, or whose items have another shape."""
        missing = [f for f in self.requires_fields if f not in fields]
        if missing:
            what_they_are = ", ".join(f"{FIELD_MEANINGS[f]} (field {f!r})" if f in FIELD_MEANINGS else f"field {f!r}"
                                      for f in missing)
            raise AekitError(f"model {self.name!r} trains on {what_they_are}, but the {what} data has only "
                             f"{', '.join(fields)}: pass data with {'labels' if missing == ['y'] else 'those fields'}")
        self.check_input(fields["x"][:1])

    def check_input(self, x: torch.Tensor) -> None:
        raise NotImplementedError

    def phase_parameters(self, phase: str) -> Iterable[nn.Parameter]:
        """Parameters the optimiser of ``phase`` updates; single-player models use all of them."""
        return self.parameters()

    def split_parameters(self, part: nn.Module, inside: bool) -> list[nn.Parameter]:
        """The parameters of sub-module ``part`` (``inside``) or all the others: the usual two-phase split."""
        if inside:
            return list(part.parameters())
        own = {id(p) for p in part.parameters()}
        return [p for p in self.parameters() if id(p) not in own]

    def phase_losses(self, batch, phase: str, ctx) -> dict[str, torch.Tensor]:
        """Loss terms minimised in ``phase`` on ``batch``; the default is the ``forward`` losses.

        ``ctx`` (``train.phases.PhaseContext``) is shared by the phases of one batch: a phase may store
        detached tensors there for a later one, which must still work when it finds none.
        """
        return self(batch).losses

    def set_progress(self, fraction: float) -> None:
        """Called by the loop before every step with the fraction of training done, in [0, 1].

        Schedules that belong to the model (a VAE's KL warm-up, a Gumbel temperature) read it here; it is
        derived from the step count, so a resumed run continues the schedule exactly.
        """

    def fit_closed_form(self, x: torch.Tensor) -> None:
        raise NotImplementedError(f"model {self.name!r} is trained by gradient descent")


class Model(Trainable):
    """Base class of every model: subclasses implement ``encode`` and ``forward`` (and ``decode`` when they
    declare the capability "decode")."""

    code_shape: tuple[int | None, ...]  # one code's shape, set by the constructor; TIME (None): one code per step

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        init = cls.__dict__["__init__"]
        sig = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self, *args, **kw):
            # Only the outermost constructor records: a parent constructor reached through super()
            # must not overwrite the subclass's fuller record.
            if "hparams" not in self.__dict__:
                bound = sig.bind(self, *args, **kw)
                bound.apply_defaults()
                values = dict(list(bound.arguments.items())[1:])
                for name, p in sig.parameters.items():
                    if p.kind is inspect.Parameter.VAR_KEYWORD:
                        values.update(values.pop(name, {}))
                for name, p in constructor_parameters(type(self)).items():
                    values.setdefault(name, p.default)
                self.__dict__["hparams"] = {k: _jsonable(v) for k, v in values.items()}
            init(self, *args, **kw)

        cls.__init__ = recording_init

    @classmethod
    def settings_for_data(cls, hparams: dict[str, Any], low: float, high: float) -> tuple[dict[str, Any], list[str]]:
        """``hparams`` with the settings that depend on the training data (values in [low, high]) resolved, and
        a line for each choice made. A model that takes ``loss`` trains a reconstruction loss: ``auto`` (the
        default) is chosen by the data's range, and a loss that cannot fit the data is refused (before any
        file is written). Models with other data-dependent settings override this."""
        from aekit.losses import AUTO, choose_reconstruction, describe_recon

        if "loss" not in constructor_parameters(cls):
            return hparams, []
        asked = hparams.get("loss", constructor_parameters(cls)["loss"].default)
        if not isinstance(asked, str):
            return hparams, []  # the constructor refuses it with its own message
        chosen = choose_reconstruction(asked, low, high)
        notes = [f"loss auto: {chosen} for data in [{low:.4g}, {high:.4g}], recorded in the run; recon in the progress "
                 f"bar and log.csv is {describe_recon(chosen)}"] if asked == AUTO else []
        return {**hparams, "loss": chosen}, notes

    # ---- shape handling shared by all models -------------------------------------------------
    def _set_input_shape(self, input_shape) -> tuple[int, ...]:
        shape = (int(input_shape),) if isinstance(input_shape, int) else tuple(int(s) for s in input_shape)
        if not shape or any(s <= 0 for s in shape):
            raise AekitError(f"input_shape must be positive sizes, got {input_shape!r}")
        self.input_shape = shape
        self.input_dim = math.prod(shape)
        return shape

    def _set_latent_dim(self, latent_dim) -> int:
        if isinstance(latent_dim, bool) or int(latent_dim) != latent_dim or int(latent_dim) <= 0:
            raise AekitError(f"latent_dim must be a positive integer, got {latent_dim!r}")
        return int(latent_dim)

    def _set_reconstruction(self, loss: str, output: str | None) -> None:
        """Choose the reconstruction loss and the decoder's output activation, which must agree.

        ``auto`` is chosen from the training data before the model is built (:mod:`aekit.data_settings`, which
        records the choice in the run); a model built without data takes it as ``bce``.

        ``bce`` needs a sigmoid output and is computed from logits (stable); ``softmax`` (word counts)
        needs a softmax over the features, the output being a distribution over the vocabulary, and is
        computed from logits too; ``sse``/``mse`` default to a linear output. Sets ``self.loss`` and
        ``self.output_act``.
        """
        from aekit.losses import AUTO, AUTO_CHOICES, RECONSTRUCTION_LOSSES
        from aekit.nn.mlp import make_activation

        if loss == AUTO:  # training resolves it from the data (aekit.data_settings); built without data: [0, 1]
            loss = AUTO_CHOICES[0]
        if loss not in RECONSTRUCTION_LOSSES:
            raise AekitError(f"unknown loss {loss!r}: choose one of {AUTO}, {', '.join(RECONSTRUCTION_LOSSES)}")
        output = output or {"bce": "sigmoid", "softmax": "softmax"}.get(loss, "identity")
        if loss == "bce" and output != "sigmoid":
            raise AekitError("loss 'bce' needs output 'sigmoid' (targets in [0,1]); use loss 'sse' for other outputs")
        if (loss == "softmax") != (output == "softmax"):
            raise AekitError("loss 'softmax' and output 'softmax' go together (word counts -> a distribution over "
                             "the vocabulary): set both, or neither")
        self.loss = loss
        self.output_act = FeatureSoftmax() if output == "softmax" else make_activation(output)

    def _reconstruction_loss(self, raw: torch.Tensor, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The loss from the decoder's pre-activation ``raw`` (logits for bce) or its output ``out``."""
        from aekit.losses import LOGIT_LOSSES, reconstruction

        return reconstruction(raw if self.loss in LOGIT_LOSSES else out, x, self.loss)

    def check_input(self, x: torch.Tensor) -> None:
        """Refuse data whose items do not have this model's input shape, with a fix in the message."""
        item = tuple(x.shape[1:])
        if item != self.input_shape and math.prod(item) != self.input_dim:
            raise AekitError(
                f"data items have shape {item} but model {self.name!r} was built for {self.input_shape}: "
                f"train a new model on this data or pass data shaped like the training data"
            )

    # ---- the contract ---------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        require(self, "decode", "decoding codes")
        raise NotImplementedError

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        require(self, "decode", "reconstruction")
        return self.decode(self.encode(x))

    def upgrade_state_dict(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Weights saved by an earlier release, renamed to this model's names (``aekit.load`` calls it; the
        default has nothing to rename)."""
        return state

    def code_network(self) -> nn.Module:
        """The part of the model that maps an input batch to its codes, as a trainable module sharing the
        model's parameters (what ``aekit finetune`` trains on); models with "trainable_encoder" override it."""
        require(self, "trainable_encoder", "fine-tuning")
        raise NotImplementedError

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` codes drawn from the model's prior, ready for ``decode`` (models with "sample")."""
        require(self, "sample", "drawing codes from a prior")
        raise NotImplementedError

    def code_metrics(self, x: torch.Tensor) -> dict[str, float]:
        """Extra numbers about the codes of ``x`` for ``aekit evaluate`` (e.g. codebook usage); none by default."""
        return {}



def __getattr__(name: str):
    if name == "AutoEncoder":  # the name before issue 16; ``aekit.AutoEncoder`` is the scikit-learn estimator
        import warnings

        warnings.warn("aekit.models.AutoEncoder is now aekit.models.Model", DeprecationWarning, stacklevel=2)
        return Model
    raise AttributeError(name)
