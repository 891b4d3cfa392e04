"""A user's perceptual feature network read from one safetensors file (e.g. VGG-Face, converted by the user).

A safetensors file holds tensors and string metadata only, so loading it
executes no code; the network is a plain stack of convolutions, each followed
by a ReLU (VGG's shape). The file must hold:

* tensors ``layers.<i>.weight`` (out, in, k, k) and ``layers.<i>.bias`` (out,)
  for i = 0, 1, ... in order (stride 1, padding k // 2);
* metadata ``features``: comma-separated layer indices whose ReLU outputs are
  the features (e.g. ``"3,6,9"``); ``pool_after``: indices followed by a 2 x 2
  max pool (e.g. VGG-Face's ``"1,3,6,9,12"``; may be empty); ``input_size``:
  the side the crop is resized to (``"224"``); ``channels``: ``rgb``, ``bgr``
  or ``grey``; ``scale``: the input's pixel range (``"255"`` or ``"1"``);
  ``mean``: the value subtracted per channel, in those units
  (``"129.186,104.762,93.594"`` for VGG-Face's BGR means).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from torch import nn

from facexpr.io import BadInputError

#: Metadata keys a feature-network file must have.
METADATA_KEYS = ("features", "pool_after", "input_size", "channels", "scale", "mean")
#: Channel orders the network may expect.
CHANNEL_ORDERS = ("rgb", "bgr", "grey")


class ConvFeatureNet(nn.Module):
    """Convolutions (each followed by ReLU, some by a 2 x 2 max pool) whose chosen layers' outputs are features.

    Args:
        convs: the convolutions in order.
        features: indices of the layers whose outputs :meth:`forward` returns.
        pool_after: indices of the layers followed by a max pool.
        input_size: side the crops are resized to.
        channels: ``rgb``, ``bgr`` or ``grey``: what the first layer reads.
        scale: pixel range of its input (crops in [0, 1] are multiplied by it).
        mean: per-channel value subtracted after scaling.
    """

    def __init__(self, convs: list[nn.Conv2d], features: set[int], pool_after: set[int], input_size: int,
                 channels: str, scale: float, mean: list[float]):
        super().__init__()
        self.convs = nn.ModuleList(convs)
        self.features, self.pool_after = sorted(features), set(pool_after)
        self.input_size, self.channels, self.scale = input_size, channels, scale
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 1 or 3, S, S) crops in [0, 1] -> the network's input (channels, size, scale, mean)."""
        x = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 and self.channels != "grey" else images
        if self.channels == "grey" and x.shape[1] == 3:
            x = x.mean(1, keepdim=True)
        if self.channels == "bgr":
            x = x.flip(1)
        x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        return x * self.scale - self.mean

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The feature maps of (B, C, S, S) crops in [0, 1], shallowest first."""
        x, maps = self.prepare(images), []
        for index, conv in enumerate(self.convs[: self.features[-1] + 1]):
            x = F.relu(conv(x))
            if index in self.features:
                maps.append(x)
            if index in self.pool_after:
                x = F.max_pool2d(x, 2)
        return maps


def _indices(text: str) -> set[int]:
    """``"1,3,6"`` -> {1, 3, 6} (empty text: none)."""
    return {int(part) for part in text.split(",") if part.strip()}


def load_feature_net(path: str | os.PathLike) -> ConvFeatureNet:
    """The frozen feature network (eval mode, no gradients to its weights) of a safetensors file (see the module
    docstring for what it must hold).

    Raises:
        BadInputError: unreadable, not safetensors, or missing/inconsistent tensors or metadata.
    """
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as error:  # safetensors raises its own error types
        raise BadInputError(path, f"not a readable safetensors feature network ({error})") from None
    missing = [key for key in METADATA_KEYS if key not in metadata]
    if missing:
        raise BadInputError(path, f"feature network metadata lacks {', '.join(missing)} (see facexpr.nn.feature_net)")
    try:
        convs = []
        while f"layers.{len(convs)}.weight" in tensors:
            weight, bias = tensors[f"layers.{len(convs)}.weight"], tensors[f"layers.{len(convs)}.bias"]
            conv = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[-1], padding=weight.shape[-1] // 2)
            conv.load_state_dict({"weight": weight, "bias": bias})
            convs.append(conv)
        features, pool_after = _indices(metadata["features"]), _indices(metadata["pool_after"])
        mean = [float(value) for value in metadata["mean"].split(",")]
        channels = metadata["channels"]
        if not convs or not features or max(features) >= len(convs) or channels not in CHANNEL_ORDERS:
            raise ValueError(f"{len(convs)} layers, features {sorted(features)}, channels {channels!r}")
        if convs[0].in_channels != (1 if channels == "grey" else 3) or len(mean) != convs[0].in_channels:
            raise ValueError(f"its first layer reads {convs[0].in_channels} channels, mean has {len(mean)} values")
        net = ConvFeatureNet(convs, features, pool_after, int(metadata["input_size"]), channels,
                             float(metadata["scale"]), mean)
    except (KeyError, ValueError, RuntimeError) as error:
        raise BadInputError(path, f"not a usable feature network ({error})") from None
    return net.eval().requires_grad_(False)
