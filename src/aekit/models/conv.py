"""Convolutional autoencoder for images of any size and channel count."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from aekit.errors import AekitError
from aekit.models.base import Model, Output
from aekit.nn.conv import DECODERS, DOWNSAMPLERS
from aekit.nn.parts import NetArgs, build_decoder, build_encoder
from aekit.registry import register


@register("conv_ae")
class ConvAutoEncoder(Model):
    """Convolutional autoencoder (Masci et al., "Stacked Convolutional Auto-Encoders for Hierarchical
    Feature Extraction", ICANN 2011): conv stages that halve the image, then a linear layer to the code;
    the decoder maps the code back to the last feature map and undoes the stages.

    ``channels`` gives one downsampling stage per entry. ``downsample`` is ``pool`` (2x2 max-pooling)
    or ``stride`` (stride-2 convolution). ``decoder`` chooses how a stage is undone:

    - ``unpool``: max-unpooling at the positions the matching max-pool remembered ("switches",
      Zeiler et al., "Adaptive Deconvolutional Networks for Mid and High Level Feature Learning",
      ICCV 2011; as in the decoders of Noh et al., "Learning Deconvolution Network for Semantic
      Segmentation", ICCV 2015), then a convolution. ``forward`` and ``reconstruct`` use the input's
      switches (also returned in ``Output.extras["pool_indices"]``). ``decode(z)`` has no input, so it
      unpools at the top-left of every window (Zeiler's no-switch case; Dosovitskiy et al. 2015): it
      works for generation and interpolation but is not the decoder the switches trained, so
      ``decode(encode(x))`` is a worse reconstruction than ``reconstruct(x)``. With
      ``downsample="stride"`` there are no switches and ``unpool`` always uses the fixed positions.
    - ``upsample``: nearest-neighbour upsampling ("copy the value"), then a convolution.
    - ``transpose``: stride-2 transposed convolution.

    ``loss``/``output`` follow ``models/ae.py``: ``bce`` for inputs in [0, 1] (sigmoid output; the loss
    takes the logits), ``sse``/``mse`` for real-valued inputs (linear output), ``auto`` (default) by the
    data's range. ``norm="batch"`` adds
    batch normalisation after every hidden convolution.
    """

    capabilities = frozenset({"decode", "trainable_encoder"})

    def __init__(
        self,
        input_shape: Sequence[int] = (1, 28, 28),
        latent_dim: int = 32,
        channels: Sequence[int] = (32, 64),
        decoder: str = "unpool",
        downsample: str = "pool",
        activation: str = "relu",
        loss: str = "auto",
        output: str | None = None,
        norm: str | None = None,
    ):
        super().__init__()
        if isinstance(input_shape, int) or len(tuple(input_shape)) != 3:
            raise AekitError(
                f"conv_ae needs images: input_shape must be (channels, height, width), got {input_shape!r}; "
                f"reshape flat data to images (e.g. (1, 28, 28)) or use model 'ae' for flat vectors"
            )
        self._set_input_shape(input_shape)
        latent_dim = self._set_latent_dim(latent_dim)
        self.code_shape = (latent_dim,)
        channels = [int(ch) for ch in channels]
        if not channels or any(ch <= 0 for ch in channels):
            raise AekitError(f"channels must be one or more positive widths (one per stage), got {channels!r}")
        if decoder not in DECODERS:
            raise AekitError(f"unknown decoder {decoder!r}: choose one of {', '.join(DECODERS)}")
        if downsample not in DOWNSAMPLERS:
            raise AekitError(f"unknown downsample {downsample!r}: choose one of {', '.join(DOWNSAMPLERS)}")
        self._set_reconstruction(loss, output)
        # The conv part's networks (nn/conv.py), as every model on backbone "conv" has them; this model adds
        # only the switches: the encoder's pool indices handed to the decoder.
        spec = {"part": "conv", "channels": channels, "downsample": downsample, "decoder": decoder}
        net = NetArgs(activation=activation, norm=norm)
        self.encoder = build_encoder(spec, self.input_shape, latent_dim, net)  # ConvCodeEncoder: net, to_code
        self.decoder = build_decoder(spec, self.input_shape, latent_dim, net)  # ConvCodeDecoder: from_code, net

    # ---- the contract -------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (B, K)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images from codes alone; ``unpool`` places values at fixed (top-left) window positions."""
        return self.output_act(self.decoder(z))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``decode(encode(x))`` with the input's own pool indices (what ``forward`` returns)."""
        z, indices = self.encoder.with_switches(x)
        return self.output_act(self.decoder(z, indices)).reshape(x.shape)

    def code_network(self) -> nn.Module:
        return self.encoder

    def forward(self, batch) -> Output:
        x = batch["x"]
        z, indices = self.encoder.with_switches(x)
        raw = self.decoder(z, indices)  # (B, C, H, W): logits for bce
        out = self.output_act(raw)
        recon = self._reconstruction_loss(raw, out, x)
        extras = {"pool_indices": indices} if self.encoder.net.stages[0].down == "pool" else {}
        return Output(out.reshape(x.shape), z, {"recon": recon}, extras)

    # Runs written before conv_ae was built from the conv part name its four networks at the top level.
    LEGACY_KEYS = {"encoder.": "encoder.net.", "to_code.": "encoder.to_code.", "from_code.": "decoder.from_code.",
                   "decoder.": "decoder.net."}

    def upgrade_state_dict(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if any(k.startswith("encoder.net.") for k in state):
            return state
        out = {}
        for key, value in state.items():
            prefix = next((p for p in self.LEGACY_KEYS if key.startswith(p)), None)
            out[key if prefix is None else self.LEGACY_KEYS[prefix] + key[len(prefix):]] = value
        return out
