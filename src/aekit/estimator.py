"""scikit-learn façade: any registered aekit model as a transformer (``fit`` / ``transform`` / ``score``).

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler
    from sklearn.linear_model import LogisticRegression
    clf = make_pipeline(MinMaxScaler(), AutoEncoder(latent_dim=16, epochs=30), LogisticRegression())

The estimator follows scikit-learn's rules: ``__init__`` only stores its arguments, fitted state ends in
``_``, ``fit`` returns ``self``. Training goes through ``aekit.runs.train`` (the same path as ``aekit
train``), so a fit with ``random_state=s`` is the run ``aekit train ... --set seed=s`` would make.
"""
from __future__ import annotations

import copy
import numbers
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from aekit import inference
from aekit.data.dataset import ArrayDataset
from aekit.models.base import code_size
from aekit.registry import build, hparam_names
from aekit.runs import train
from aekit.train import TrainingDiverged

# Floats keep their precision on the way out (codes of float64 input are float64); anything else
# (ints, bools) becomes float64 as in scikit-learn's own transformers. The model trains in float32 and
# computes codes in float64 (AutoEncoder._infer says why).
_DTYPES = [np.float64, np.float32]
# Settings with their own constructor parameter: giving them in the option dicts too would be ambiguous.
_OWN_MODEL_KEYS = ("input_shape", "latent_dim", "hidden", "loss")
_OWN_TRAIN_KEYS = ("epochs", "batch_size", "lr", "seed", "progress")


class AutoEncoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """An aekit autoencoder as a scikit-learn transformer: ``transform`` gives codes.

    Parameters
    ----------
    model : str, default="ae"
        A registered model name (``aekit.model_names()``): ``"ae"`` (deep MLP autoencoder), ``"pca"``
        (closed form), ``"denoising"``, ``"sparse"``, ... The input shape is taken from ``X``.
    latent_dim : int, default=2
        Code size: the number of output features of ``transform``.
    hidden : tuple of int, default=(32,)
        Encoder widths before the code (an int means one layer); the decoder mirrors them. ``()`` with ``loss="sse"`` is a
        linear autoencoder, which reaches PCA's reconstruction error.
    epochs, batch_size, lr : int, int, float, defaults 20, 64, 1e-2
        Passes over the data, examples per step, Adam learning rate. The defaults are small so the
        estimator is quick on small tables; real data usually wants more epochs.
    loss : {"bce", "sse", "mse"} or None, default=None
        Reconstruction loss. ``None`` picks ``"bce"`` (sigmoid output) when every value of ``X`` lies
        in [0, 1], e.g. after ``MinMaxScaler``, and ``"sse"`` (per-example sum of squared errors,
        linear output) otherwise. ``"bce"`` on data outside [0, 1] is refused: its minimum is not the
        identity there.
    random_state : int, RandomState or None, default=None
        Seeds the weights, the batch order and any noise (``TrainConfig.seed``); an int is used as
        the seed itself. Fits are bitwise repeatable on the CPU for a fixed int.
    model_options : dict or None
        Other model hyperparameters, e.g. ``{"activation": "tanh", "tied": True}``.
    train_options : dict or None
        Other ``aekit.train.TrainConfig`` fields, e.g. ``{"schedule": "cosine", "weight_decay": 1e-4}``.
        Training runs on the CPU unless ``{"accelerator": "auto"}`` (or ``"cuda"``) is given.
        ``eval_batch_size`` also sets the batch size of ``transform``/``inverse_transform``/``score``.
    verbose : bool, default=False
        Show the progress bar while training.

    Settings the chosen model does not take are ignored: ``"pca"`` uses only ``latent_dim`` (it is
    fitted in closed form, so ``hidden``, ``loss``, ``epochs``, ``batch_size`` and ``lr`` do nothing).

    Attributes
    ----------
    model_ : aekit.models.Model
        The trained torch model (use it with ``aekit.encode``/``aekit.reconstruct`` or save it).
    loss_ : str or None
        The reconstruction loss trained with (None for a model without a loss setting, e.g. pca).
    history_ : list of dict
        One row per epoch (``epoch``, ``lr``, ``train_recon``, ...); empty for closed-form models.
    n_features_in_, feature_names_in_ : as in scikit-learn.

    ``score(X)`` is minus the mean squared error per value (higher is better), whatever the training
    loss, so ``GridSearchCV`` compares settings on one scale. Pickling stores the model's name,
    hyperparameters and weights and rebuilds it on load.

    scikit-learn's ``check_estimator`` passes, at the defaults and at other settings, for every registered
    model that takes flat vectors and decodes (a model that needs images, such as ``conv_ae``, refuses a
    table in one line at ``fit``). No check is expected to fail. One is reported skipped:
    ``check_array_api_input``, which scikit-learn runs only when ``SCIPY_ARRAY_API=1`` is set before
    scipy is imported; ``tests/test_estimator.py`` runs it in a process that sets it, and it passes.

    ``transform``, ``inverse_transform`` and ``score`` compute with a float64 copy of the trained model, so
    an item's result does not depend, beyond float64 rounding, on the other items passed with it or on
    ``eval_batch_size``.
    """

    def __init__(self, model: str = "ae", latent_dim: int = 2, hidden: tuple[int, ...] = (32,),
                 epochs: int = 20, batch_size: int = 64, lr: float = 1e-2, loss: str | None = None,
                 random_state=None, model_options: dict | None = None, train_options: dict | None = None,
                 verbose: bool = False):
        self.model = model
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.loss = loss
        self.random_state = random_state
        self.model_options = model_options
        self.train_options = train_options
        self.verbose = verbose

    # ---- fitting --------------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Train the model on ``X`` (``(n_samples, n_features)``); ``y`` is ignored. Returns self."""
        X = validate_data(self, X, dtype=_DTYPES)
        hparams = self._model_settings(X)
        settings = self._train_settings()
        data = ArrayDataset(x=torch.tensor(X, dtype=torch.float32), name="sklearn", source="numpy")
        history: list[dict] = []
        # Training seeds torch's global RNG; keep the caller's stream as it was (CUDA's too off the CPU).
        with torch.random.fork_rng(devices=[] if settings["accelerator"] == "cpu" else None):
            try:
                run = train(self.model, data, evaluate=False, on_epoch_end=history.append,
                            **{f"model.{k}": v for k, v in hparams.items()},
                            **{f"train.{k}": v for k, v in settings.items()})
            except TrainingDiverged as e:
                raise ValueError(f"AutoEncoder training diverged ({str(e).split(';')[0]}): "
                                 f"lower lr (now {self.lr}) or set train_options={{'grad_clip': 1.0}}") from None
        self.model_ = run.model.eval()
        self.loss_ = self.model_.hparams.get("loss")
        self.history_ = history
        return self

    def _model_settings(self, X: np.ndarray) -> dict[str, Any]:
        if not isinstance(self.model, str):
            raise ValueError(f"model must be a registered model name such as 'ae' or 'pca', got {self.model!r}")
        keys = set(hparam_names(self.model))  # an unknown name is an AekitError (a ValueError)
        options = dict(self.model_options or {})
        clash = sorted(set(options) & set(_OWN_MODEL_KEYS))
        if clash:
            raise ValueError(f"model_options may not set {', '.join(clash)}: use the AutoEncoder parameter "
                             f"of that name (input_shape is taken from X)")
        hidden = (self.hidden,) if isinstance(self.hidden, numbers.Integral) else self.hidden  # 64 -> (64,)
        own = {"latent_dim": self.latent_dim, "hidden": hidden}
        if "loss" in keys:
            own["loss"] = self._choose_loss(X)
        return {**options, **{k: v for k, v in own.items() if k in keys}}

    def _choose_loss(self, X: np.ndarray) -> str:
        in_unit_range = X.size > 0 and float(X.min()) >= 0.0 and float(X.max()) <= 1.0
        if self.loss is None:
            return "bce" if in_unit_range else "sse"
        if self.loss == "bce" and not in_unit_range:
            raise ValueError("loss='bce' needs every value of X in [0, 1]: scale X (e.g. MinMaxScaler) "
                             "or use loss='sse'")
        return self.loss

    def _train_settings(self) -> dict[str, Any]:
        options = dict(self.train_options or {})
        clash = sorted(set(options) & set(_OWN_TRAIN_KEYS))
        if clash:
            raise ValueError(f"train_options may not set {', '.join(clash)}: use the AutoEncoder parameters "
                             f"epochs, batch_size, lr, random_state (for seed) and verbose (for progress)")
        if isinstance(self.random_state, numbers.Integral) and not isinstance(self.random_state, bool):
            seed = int(self.random_state)
        else:
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        return {"accelerator": "cpu", **options, "epochs": self.epochs, "batch_size": self.batch_size,
                "lr": self.lr, "seed": seed, "progress": bool(self.verbose)}

    # ---- using the fitted model -----------------------------------------------------------------
    def transform(self, X):
        """Codes of ``X``: ``(n_samples, n_codes)``, computed in float64; float32 unless ``X`` is float64."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_DTYPES)
        z = self._infer(inference.encode, X)
        return z.reshape(z.shape[0], -1).astype(X.dtype, copy=False)  # (N, prod(code_shape))

    def inverse_transform(self, X):
        """Decode codes ``X`` (``(n_samples, n_codes)``) back to the input space."""
        check_is_fitted(self)
        Z = check_array(X, dtype=_DTYPES)
        if Z.shape[1] != self._n_features_out:
            raise ValueError(f"X has {Z.shape[1]} features, but {type(self).__name__}.inverse_transform is "
                             f"expecting {self._n_features_out} code features as input")
        x_hat = self._infer(inference.decode, Z.reshape(Z.shape[0], *self.model_.code_shape))
        return x_hat.reshape(Z.shape[0], -1).astype(Z.dtype, copy=False)  # (N, n_features_in_)

    def score(self, X, y=None) -> float:
        """Minus the mean squared reconstruction error per value of ``X`` (higher is better)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_DTYPES)
        x_hat = self._infer(inference.reconstruct, X)
        return -float(np.mean((x_hat - X) ** 2))

    def _infer(self, pass_over, X: np.ndarray) -> np.ndarray:
        """``pass_over`` (an ``aekit.inference`` pass) over ``X`` by a float64 copy of the model.

        In float32 an item's result depends on the items computed with it, by float32 rounding (~1e-7
        relative): the matrix kernels torch picks, and the order in which they sum, change with the
        number of rows (one row takes a matrix-vector kernel). scikit-learn asks ``transform(X)[i]`` to
        equal ``transform(X[i:i+1])`` to 1e-7; in float64 the two differ by float64 rounding (~1e-16).
        The float32 weights are exact in float64, so this is the trained model, computed more precisely.
        """
        model = copy.deepcopy(self.model_).double()
        return pass_over(model, torch.tensor(X, dtype=torch.float64), self._eval_batch_size).numpy()

    @property
    def _n_features_out(self) -> int:
        # Read by ClassNamePrefixFeaturesOutMixin: feature names autoencoder0 .. autoencoder{k-1}.
        return code_size(self.model_, "scikit-learn's transform")  # one fixed-size row per sample

    @property
    def _eval_batch_size(self) -> int:
        return int((self.train_options or {}).get("eval_batch_size", 2048))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False  # for a fixed random_state; CPU training is bitwise repeatable
        return tags

    # ---- pickling: rebuild the model from its name, hyperparameters and weights -----------------
    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: object.__getstate__ returns __dict__ itself
        model = state.pop("model_", None)
        if model is not None:
            state["_model_state"] = {"name": model.name, "hparams": model.hparams,
                                     "weights": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved = state.pop("_model_state", None)
        super().__setstate__(state)
        if saved is not None:
            model = build(saved["name"], **saved["hparams"])
            model.load_state_dict(saved["weights"])
            self.model_ = model.eval()
