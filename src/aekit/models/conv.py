"""Convolutional autoencoder for images of any size and channel count."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from aekit.errors import AekitError
from aekit.models.base import Model, Output
from aekit.nn.conv import DECODERS, DOWNSAMPLERS, ConvDecoder, ConvEncoder, stage_sizes
from aekit.nn.mlp import make_activation
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
    takes the logits), ``sse``/``mse`` for real-valued inputs (linear output). ``norm="batch"`` adds
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
        loss: str = "bce",
        output: str | None = None,
        norm: str | None = None,
    ):
        super().__init__()
        if isinstance(input_shape, int) or len(tuple(input_shape)) != 3:
            raise AekitError(
                f"conv_ae needs images: input_shape must be (channels, height, width), got {input_shape!r}; "
                f"reshape flat data to images (e.g. (1, 28, 28)) or use model 'ae' for flat vectors"
            )
        c, h, w = self._set_input_shape(input_shape)
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

        sizes = stage_sizes((h, w), len(channels))
        self.stage_sizes = sizes[:-1]  # input (H, W) of every stage: what the decoder restores
        self.map_shape = (channels[-1], *sizes[-1])  # (C_last, h, w) of the last feature map
        map_dim = channels[-1] * sizes[-1][0] * sizes[-1][1]
        self.encoder = ConvEncoder(c, channels, down=downsample, act=activation, norm_name=norm)
        self.to_code = nn.Linear(map_dim, int(latent_dim))
        self.from_code = nn.Sequential(nn.Linear(int(latent_dim), map_dim), make_activation(activation))
        self.decoder = ConvDecoder(c, channels, kind=decoder, act=activation, norm_name=norm)

    # ---- internals ------------------------------------------------------------------------------
    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
        x = x.reshape(x.shape[0], *self.input_shape)  # (B, C, H, W); flat items of the right size too
        h, indices, _ = self.encoder(x)  # (B, C_last, h, w)
        return self.to_code(h.flatten(1)), indices  # (B, C_last * h * w) -> (B, K)

    def _decode_raw(self, z: torch.Tensor, indices: list[torch.Tensor | None] | None = None) -> torch.Tensor:
        h = self.from_code(z).reshape(z.shape[0], *self.map_shape)  # (B, K) -> (B, C_last, h, w)
        return self.decoder(h, self.stage_sizes, indices)  # (B, C, H, W): logits for bce

    # ---- the contract -------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self._encode(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images from codes alone; ``unpool`` places values at fixed (top-left) window positions."""
        return self.output_act(self._decode_raw(z))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``decode(encode(x))`` with the input's own pool indices (what ``forward`` returns)."""
        z, indices = self._encode(x)
        return self.output_act(self._decode_raw(z, indices)).reshape(x.shape)

    def code_network(self) -> nn.Module:
        from aekit.nn.conv import ConvCodeEncoder

        return ConvCodeEncoder(self.encoder, self.to_code, self.input_shape)

    def forward(self, batch) -> Output:
        x = batch["x"]
        z, indices = self._encode(x)
        raw = self._decode_raw(z, indices)  # (B, C, H, W)
        out = self.output_act(raw)
        recon = self._reconstruction_loss(raw, out, x)
        extras = {"pool_indices": indices} if self.encoder.stages[0].down == "pool" else {}
        return Output(out.reshape(x.shape), z, {"recon": recon}, extras)
