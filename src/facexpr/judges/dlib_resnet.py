"""dlib's face-recognition ResNet, ported to PyTorch: batched, differentiable 128-D face descriptors.

dlib's ``dlib_face_recognition_resnet_model_v1.dat`` (shipped in
``face_recognition_models``) is the ``anet_type`` of dlib's
``examples/dnn_face_recognition_ex.cpp``: a 150 x 150 RGB face chip,
a 7 x 7 / 2 convolution, an ``affine`` layer (batch norm folded into a
per-channel scale and shift), ReLU, a 3 x 3 / 2 max pool, fourteen residual
blocks (32, 64, 128 and 256 filters), global average pooling and a
128-output fully connected layer without bias. :class:`DlibFaceResNet`
rebuilds that graph; :func:`read_dlib_resnet` reads the weights from dlib's
own binary serialization in plain Python (no C++ build step); and
:func:`load_dlib_resnet` caches them as safetensors in the user's cache
folder, so later loads execute no code from the file.

dlib's conventions kept here: its input layer feeds ``(pixel - mean) / 256``
with the per-channel means stored in the file; convolutions and pools pad
``kernel // 2`` only at stride 1 (none at stride 2, so 150 -> 72 -> 35 -> 17
-> 8 -> 4 -> 2); a residual sum whose two tensors differ in channels or size
pads the smaller one with zeros at the end (dlib's ``add_prev``).

The same judge needs dlib's face chip: :func:`face_chip_transforms` and
:func:`extract_face_chips` cut it from the 68 landmarks the way dlib's
``get_face_chip_details(shape, 150, 0.25)`` and ``extract_image_chip`` do,
with torch operations, so photos -> chips -> descriptors is one batched,
differentiable path.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from facexpr.faces.models import FACE_DESCRIPTOR, model_file
from facexpr.io import BadInputError, save_tensors_atomic

#: Side of the square face chip the network reads, in pixels.
CHIP_SIZE = 150
#: Padding of dlib's face chip around the mean face (``get_face_chip_details(shape, 150, 0.25)``).
CHIP_PADDING = 0.25
#: Length of the descriptor.
DESCRIPTOR_SIZE = 128
#: dlib's input layer divides the mean-subtracted pixels by this.
INPUT_SCALE = 256.0
#: The residual blocks in forward order: (filters, halves the resolution). dlib's alevel4 .. alevel0.
BLOCKS = (
    ((32, False),) * 3 + ((64, True),) + ((64, False),) * 3 + ((128, True),) + ((128, False),) * 2
    + ((256, True),) + ((256, False),) * 2 + ((256, True),)
)
#: Cache file of the converted weights, inside :func:`cache_folder`.
CACHE_NAME = "dlib_face_recognition_resnet_model_v1.safetensors"

#: dlib's mean face (``get_face_chip_details``): x and y of landmarks 17-67 as fractions of the unpadded chip.
_MEAN_FACE_X = (
    0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124,
    0.904991, 0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036,
    0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918,
    0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149,
    0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874,
    0.553364, 0.490127, 0.42689,
)
_MEAN_FACE_Y = (
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891,
    0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326,
    0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758, 0.179852, 0.231733,
    0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099,
    0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805,
    0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746,
    0.784792, 0.824182, 0.831803, 0.824182,
)
#: The landmarks dlib aligns on: 27-67 without the lower lip (55-59, 65-67); the eyebrows 17-26 are ignored.
CHIP_LANDMARKS = tuple(i for i in range(27, 68) if not (55 <= i <= 59 or 65 <= i <= 67))


# ---------------------------------------------------------------- the network


class Affine(nn.Module):
    """dlib's ``affine_`` layer in convolution mode: ``y = weight * x + bias`` per channel
    (dlib folds a trained batch norm into this scale and shift)."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C, H, W)."""
        return torch.addcmul(self.bias.view(1, -1, 1, 1), x, self.weight.view(1, -1, 1, 1))


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int) -> nn.Conv2d:
    """dlib's ``con_`` with its default padding: ``kernel // 2`` at stride 1, none otherwise."""
    return nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2 if stride == 1 else 0)


def add_zero_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``add_prev``: the sum of two (B, C, H, W) tensors whose C, H or W may differ; each output
    dimension is the larger one and the missing elements (at the end) count as zero."""
    shape = [max(m, n) for m, n in zip(a.shape, b.shape)]

    def padded(x: torch.Tensor) -> torch.Tensor:
        pads = (0, shape[3] - x.shape[3], 0, shape[2] - x.shape[2], 0, shape[1] - x.shape[1])
        return F.pad(x, pads) if any(pads) else x

    return padded(a) + padded(b)


class ResidualBlock(nn.Module):
    """dlib's ``ares`` (``down=False``) or ``ares_down`` (``down=True``) block.

    Two 3 x 3 convolutions with ``affine`` (ReLU between them), the first of
    stride 2 when ``down``; the block's input, 2 x 2 / 2 average pooled when
    ``down``, is added (:func:`add_zero_padded`) and a ReLU follows.
    """

    def __init__(self, in_channels: int, out_channels: int, down: bool):
        super().__init__()
        self.down = down
        self.conv1 = _conv(in_channels, out_channels, 3, 2 if down else 1)
        self.affine1 = Affine(out_channels)
        self.conv2 = _conv(out_channels, out_channels, 3, 1)
        self.affine2 = Affine(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in, H, W) -> (B, out, H', W'); H' = max((H - 3) // 2 + 1, H // 2) when ``down``."""
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(add_zero_padded(y, shortcut))


class DlibFaceResNet(nn.Module):
    """dlib's face-recognition ResNet (``anet_type``), layer for layer.

    :meth:`forward` takes (B, 3, 150, 150) RGB chips in pixel units (0-255,
    float) and returns the (B, 128) descriptors: two photos of one person lie
    closer than 0.6 (Euclidean). The input means are a buffer read from
    dlib's file with the weights.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("input_mean", torch.tensor([122.782, 117.001, 104.298]))
        self.conv = _conv(3, 32, 7, 2)
        self.affine = Affine(32)
        channels = [32] + [filters for filters, _ in BLOCKS]
        self.blocks = nn.ModuleList(
            ResidualBlock(channels[i], filters, down) for i, (filters, down) in enumerate(BLOCKS)
        )
        self.fc = nn.Linear(channels[-1], DESCRIPTOR_SIZE, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 150, 150) RGB in pixel units -> (B, 128) descriptors."""
        x = (x - self.input_mean.view(1, 3, 1, 1)) / INPUT_SCALE
        x = F.max_pool2d(F.relu(self.affine(self.conv(x))), 3, 2)
        for block in self.blocks:
            x = block(x)
        return self.fc(x.mean(dim=(2, 3)))

    def dlib_layers(self) -> list[tuple[str, str | None]]:
        """The network's dlib layers in the order their details are serialized (input side first):
        (dlib layer kind, this module's submodule holding its weights or ``None``)."""
        layers: list[tuple[str, str | None]] = [("con", "conv"), ("affine", "affine"), ("relu", None),
                                                 ("max_pool", None)]
        for i, block in enumerate(self.blocks):
            layers += [("con", f"blocks.{i}.conv1"), ("affine", f"blocks.{i}.affine1"), ("relu", None),
                       ("con", f"blocks.{i}.conv2"), ("affine", f"blocks.{i}.affine2")]
            layers += [("avg_pool", None)] if block.down else []
            layers += [("add_prev", None), ("relu", None)]
        return layers + [("avg_pool_everything", None), ("fc", "fc")]

    def dlib_wrappers(self) -> list[str]:
        """dlib's layer wrappers from the loss layer inwards, as its serialization nests them: ``add``
        (a computational layer), ``tag`` or ``skip`` (``tag1``, ``skip1``: no data), ``input`` (the first
        computational layer, which holds the input layer)."""
        wrappers = ["add", "add"]  # fc_no_bias, avg_pool_everything
        for block in reversed(self.blocks):
            if block.down:  # relu<add_prev2<avg_pool<skip1<tag2<block<tag1<...
                wrappers += ["add", "add", "add", "skip", "tag"] + ["add"] * 5 + ["tag"]
            else:  # relu<add_prev1<block<tag1<...
                wrappers += ["add", "add"] + ["add"] * 5 + ["tag"]
        return wrappers + ["add", "add", "add", "input"]  # max_pool, relu, affine, con<input>


# ---------------------------------------------------------------- dlib's serialization


class _DlibReader:
    """Reads dlib's serialized primitives (``dlib/serialize.h``) from bytes; every failure is a
    one-line :class:`BadInputError` naming the file and the byte offset."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.path, self.pos = data, path, 0

    def fail(self, reason: str) -> BadInputError:
        """The error to raise: ``reason`` at the current offset."""
        return BadInputError(self.path, f"not dlib's face-recognition ResNet: {reason} (byte {self.pos})")

    def take(self, count: int, what: str) -> bytes:
        """The next ``count`` bytes."""
        if self.pos + count > len(self.data):
            raise self.fail(f"file truncated while reading {what}")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def integer(self, what: str = "an integer") -> int:
        """dlib's variable-length integer: a control byte (bit 7: negative, low 4 bits: byte count),
        then the magnitude's bytes, little endian."""
        control = self.take(1, what)[0]
        size = control & 0x0F
        if size > 8:
            raise self.fail(f"bad integer control byte {control:#x} in {what}")
        value = int.from_bytes(self.take(size, what), "little")
        return -value if control & 0x80 else value

    def real(self, what: str = "a float") -> float:
        """dlib's portable float: an integer mantissa and exponent (``float_details``), value = m * 2**e;
        exponents 32000, 32001 and 32002 mean +inf, -inf and NaN."""
        mantissa, exponent = self.integer(what), self.integer(what)
        special = {32000: math.inf, 32001: -math.inf, 32002: math.nan}
        return special[exponent] if exponent in special else math.ldexp(mantissa, exponent)

    def string(self, what: str = "a string") -> str:
        """A length-prefixed string."""
        return self.take(self.integer(what), what).decode("latin-1")

    def boolean(self, what: str = "a flag") -> bool:
        """A bool, written as the character '1' or '0'."""
        char = self.take(1, what)
        if char not in (b"0", b"1"):
            raise self.fail(f"bad bool {char!r} in {what}")
        return char == b"1"

    def version(self, allowed: tuple[int, ...], what: str) -> int:
        """A serialization version number, checked against ``allowed``."""
        value = self.integer(what)
        if value not in allowed:
            raise self.fail(f"{what} has version {value}, expected {' or '.join(map(str, allowed))}")
        return value

    def tag(self, allowed: tuple[str, ...], what: str) -> str:
        """A layer's version string (e.g. ``con_4``), checked against ``allowed``."""
        value = self.string(what)
        if value not in allowed:
            raise self.fail(f"expected {what} ({' or '.join(allowed)}), found {value[:40]!r}")
        return value

    def tensor(self, what: str) -> np.ndarray:
        """A ``resizable_tensor`` (version 2: sizes n, k, nr, nc then little-endian float32), shaped (n, k, nr, nc)."""
        self.version((2,), f"tensor of {what}")
        shape = tuple(self.integer(f"tensor size of {what}") for _ in range(4))
        if min(shape) < 0:
            raise self.fail(f"negative tensor size {shape} in {what}")
        count = math.prod(shape)
        return np.frombuffer(self.take(4 * count, f"tensor of {what}"), dtype="<f4").reshape(shape)

    def alias(self, what: str) -> tuple[int, ...]:
        """An ``alias_tensor`` (a view into a layer's parameter tensor): its (n, k, nr, nc) sizes."""
        self.version((1,), f"alias tensor of {what}")
        return tuple(self.integer(f"alias tensor of {what}") for _ in range(4))


def _geometry(reader: _DlibReader, what: str) -> tuple[int, int, int, int, int, int]:
    """nr, nc, stride_y, stride_x, padding_y, padding_x of a convolution or pool."""
    return tuple(reader.integer(what) for _ in range(6))  # type: ignore[return-value]


def _expect(reader: _DlibReader, found: tuple, expected: tuple, what: str) -> None:
    """Raise unless the file's ``found`` values are the network's ``expected`` ones."""
    if tuple(found) != tuple(expected):
        raise reader.fail(f"{what} is {tuple(found)}, expected {tuple(expected)}")


def _read_con(reader: _DlibReader, conv: nn.Conv2d, where: str) -> dict[str, np.ndarray]:
    """A ``con_`` layer (versions con_4, con_5): its filters (out, in, nr, nc) and biases, checked against ``conv``."""
    version = reader.tag(("con_4", "con_5"), f"convolution {where}")
    params = reader.tensor(where).reshape(-1)
    filters = reader.integer(where)
    nr, nc, stride_y, stride_x, pad_y, pad_x = _geometry(reader, where)
    weights, biases = reader.alias(where), reader.alias(where)
    for _ in range(4):  # learning-rate and weight-decay multipliers
        reader.real(where)
    use_bias = reader.boolean(where) if version == "con_5" else True
    expected = (conv.out_channels, *conv.kernel_size, *conv.stride, *conv.padding, True)
    _expect(reader, (filters, nr, nc, stride_y, stride_x, pad_y, pad_x, use_bias), expected,
            f"convolution {where} (filters, nr, nc, strides, paddings, bias)")
    _expect(reader, weights, conv.weight.shape, f"filter shape of {where}")
    _expect(reader, (math.prod(biases), params.size), (filters, conv.weight.numel() + filters),
            f"bias and parameter counts of {where}")
    split = conv.weight.numel()
    return {"weight": params[:split].reshape(weights), "bias": params[split:]}


def _read_affine(reader: _DlibReader, affine: Affine, where: str) -> dict[str, np.ndarray]:
    """An ``affine_`` layer: per-channel gamma and beta, stored one after the other in its parameter tensor."""
    reader.tag(("affine_",), f"affine layer {where}")
    params = reader.tensor(where).reshape(-1)
    gamma, beta = reader.alias(where), reader.alias(where)
    reader.integer(where)  # mode: the per-channel size of gamma below is what matters
    channels = affine.weight.numel()
    _expect(reader, (gamma, beta, params.size), ((1, channels, 1, 1), (1, channels, 1, 1), 2 * channels),
            f"gamma, beta and parameter sizes of {where}")
    return {"weight": params[:channels], "bias": params[channels:]}


def _read_fc(reader: _DlibReader, fc: nn.Linear, where: str) -> dict[str, np.ndarray]:
    """An ``fc_`` layer without bias: dlib multiplies ``x @ W`` with W (inputs, outputs); PyTorch stores W.T."""
    reader.tag(("fc_2",), f"fully connected layer {where}")
    outputs, inputs = reader.integer(where), reader.integer(where)
    params = reader.tensor(where).reshape(-1)
    weights = reader.alias(where)
    reader.alias(where)  # biases: none in fc_no_bias
    bias_mode = reader.integer(where)
    for _ in range(4):
        reader.real(where)
    _expect(reader, (outputs, inputs, bias_mode, params.size), (fc.out_features, fc.in_features, 1, fc.weight.numel()),
            f"fully connected layer {where} (outputs, inputs, no-bias mode, parameter count)")
    _expect(reader, weights[:2], (inputs, outputs), f"weight shape of {where}")
    return {"weight": params.reshape(inputs, outputs).T}


def _read_parameterless(reader: _DlibReader, kind: str, where: str) -> None:
    """relu_, add_prev_, max_pool_ (3 x 3 / 2), avg_pool_ (2 x 2 / 2) and avg_pool_everything (avg_pool_ 0 x 0 / 1)."""
    if kind == "relu":
        reader.tag(("relu_",), f"ReLU {where}")
    elif kind == "add_prev":
        reader.tag(("add_prev_",), f"residual sum {where}")
    else:
        name = "max_pool_2" if kind == "max_pool" else "avg_pool_2"
        reader.tag((name,), f"pooling layer {where}")
        expected = {"max_pool": (3, 3, 2, 2, 0, 0), "avg_pool": (2, 2, 2, 2, 0, 0),
                    "avg_pool_everything": (0, 0, 1, 1, 0, 0)}[kind]
        _expect(reader, _geometry(reader, where), expected, f"pooling {where} (nr, nc, strides, paddings)")


def _skip_layer_state(reader: _DlibReader, version: int, input_layer: bool, where: str) -> None:
    """The training state ``add_layer`` writes after a layer's details: three flags and cached tensors."""
    for _ in range(3):
        reader.boolean(where)
    reader.tensor(f"{where} (gradient)")
    reader.tensor(f"{where} (cached output)")
    if input_layer or version == 2:
        reader.tensor(f"{where} (parameter gradient)")
    if input_layer and version == 3:
        reader.integer(where)  # sample expansion factor


def read_dlib_resnet(path: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """The state dict of :class:`DlibFaceResNet` read from dlib's serialized network (default: the
    ``dlib_face_recognition_resnet_model_v1.dat`` of ``face_recognition_models``).

    Follows dlib's serialization: the ``loss_metric`` layer, the nesting of
    layer wrappers (versions only), the input layer, then every layer's
    details from the input side up; each layer's kind, sizes, strides and
    paddings must be the network's and the file must end right after the
    last layer.

    Raises:
        FileNotFoundError: no ``path`` given and the model package is missing.
        BadInputError: the file is missing, truncated or holds another network.
    """
    path = model_file(FACE_DESCRIPTOR) if path is None else Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BadInputError(path, f"cannot read dlib's network ({error.strerror or error})") from None
    model = DlibFaceResNet()
    reader = _DlibReader(data, path)
    reader.version((1,), "loss layer wrapper")
    reader.tag(("loss_metric_", "loss_metric_2"), "metric loss layer")
    reader.real("loss margin")
    reader.real("loss distance threshold")
    versions = []
    for depth, wrapper in enumerate(model.dlib_wrappers()):
        allowed = {"add": (1, 2), "tag": (1,), "skip": (1,), "input": (2, 3)}[wrapper]
        versions.append(reader.version(allowed, f"layer wrapper {depth} ({wrapper})"))
    reader.tag(("input_rgb_image_sized",), "input layer")
    mean = [reader.real("input mean") for _ in range(3)]
    _expect(reader, (reader.integer("input rows"), reader.integer("input columns")), (CHIP_SIZE, CHIP_SIZE),
            "input size")
    state: dict[str, torch.Tensor] = {"input_mean": torch.tensor(mean, dtype=torch.float32)}
    add_versions = [v for v, w in zip(versions, model.dlib_wrappers()) if w in ("add", "input")][::-1]
    for index, ((kind, name), version) in enumerate(zip(model.dlib_layers(), add_versions)):
        where = f"layer {index} ({kind})"
        if kind == "con":
            tensors = _read_con(reader, model.get_submodule(name), where)
        elif kind == "affine":
            tensors = _read_affine(reader, model.get_submodule(name), where)
        elif kind == "fc":
            tensors = _read_fc(reader, model.get_submodule(name), where)
        else:
            _read_parameterless(reader, kind, where)
            tensors = {}
        state.update({f"{name}.{key}": torch.from_numpy(np.array(value, dtype=np.float32))
                      for key, value in tensors.items()})
        _skip_layer_state(reader, version, index == 0, where)
    if reader.pos != len(data):
        raise reader.fail(f"{len(data) - reader.pos} unexpected bytes after the last layer")
    return state


# ---------------------------------------------------------------- loading and caching


def cache_folder() -> Path:
    """facexpr's folder in the user's cache: ``$XDG_CACHE_HOME/facexpr`` (default ``~/.cache/facexpr``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "facexpr"


def cached_weights(source: str | os.PathLike | None = None, cache: str | os.PathLike | None = None) -> Path:
    """The safetensors file of dlib's network weights, converted from ``source`` (default: the
    ``face_recognition_models`` file) on first use and written atomically to ``cache`` (default:
    :data:`CACHE_NAME` in :func:`cache_folder`). A cache that is unreadable or not these weights
    is rebuilt. Returns its path.

    Raises:
        BadInputError: ``source`` is not dlib's face-recognition ResNet.
    """
    cache = Path(cache) if cache is not None else cache_folder() / CACHE_NAME
    if cache.is_file() and _holds_the_weights(cache):
        return cache
    state = read_dlib_resnet(source)
    origin = str(source) if source is not None else f"face_recognition_models: {FACE_DESCRIPTOR}"
    save_tensors_atomic(cache, state, metadata={"source": f"dlib (Davis E. King), {origin}"})
    return cache


def _holds_the_weights(path: Path) -> bool:
    """Whether ``path`` is a safetensors file with exactly :class:`DlibFaceResNet`'s tensors."""
    try:
        DlibFaceResNet().load_state_dict(load_file(str(path)), strict=True)
    except Exception:  # safetensors raises its own error type, load_state_dict a RuntimeError
        return False
    return True


@lru_cache(maxsize=None)
def _load(device: str) -> DlibFaceResNet:
    """The frozen network on ``device``, loaded once per process."""
    try:
        state = load_file(str(cached_weights()))
    except OSError:  # a read-only cache folder: convert dlib's file in memory
        state = read_dlib_resnet()
    model = DlibFaceResNet()
    model.load_state_dict(state, strict=True)
    return model.to(device).eval().requires_grad_(False)


def load_dlib_resnet(device: str | torch.device | None = None) -> DlibFaceResNet:
    """dlib's face-recognition ResNet on ``device`` (default CPU), in eval mode with frozen weights.

    The first call in a process reads the safetensors cache (building it from
    dlib's file the first time, see :func:`cached_weights`); later calls return
    the same module. Gradients still flow to its input.
    """
    return _load(str(torch.device(device if device is not None else "cpu")))


def descriptors_from_chips(chips: torch.Tensor) -> torch.Tensor:
    """(B, 128) descriptors of (B, 3, 150, 150) RGB face chips: float in [0, 1] or uint8 (0-255).

    The chips are dlib's aligned 150 px chips (``dlib.get_face_chip(image, shape, 150)``
    or :func:`extract_face_chips`). Runs on the chips' device in one batch and
    keeps the autograd graph (callers choose ``torch.no_grad`` /
    ``inference_mode``), so it can serve as a training loss.

    Raises:
        ValueError: ``chips`` is not (B, 3, 150, 150).
    """
    if chips.ndim != 4 or tuple(chips.shape[1:]) != (3, CHIP_SIZE, CHIP_SIZE):
        raise ValueError(f"expected face chips (B, 3, {CHIP_SIZE}, {CHIP_SIZE}), got shape {tuple(chips.shape)}")
    pixels = chips.float() if chips.dtype == torch.uint8 else chips * 255.0
    return load_dlib_resnet(chips.device)(pixels)


# ---------------------------------------------------------------- face chips


def chip_template(size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
    """Where dlib's face chip puts the landmarks :data:`CHIP_LANDMARKS`, in chip pixels: (len, 2) float64."""
    rows = [index - 17 for index in CHIP_LANDMARKS]
    mean = np.stack([np.take(_MEAN_FACE_X, rows), np.take(_MEAN_FACE_Y, rows)], axis=1)
    return (padding + mean) / (2 * padding + 1) * size


def face_chip_transforms(landmarks: torch.Tensor, size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> torch.Tensor:
    """(B, 2, 3) affine maps from chip pixels (x, y) to image pixels, as dlib's
    ``get_face_chip_details(shape, size, padding)`` + ``extract_image_chip`` place a chip.

    ``landmarks`` is (B, 68, 2) (x, y) in image pixels. dlib fits a
    similarity (least squares, no reflection) from its mean face to the
    landmarks, keeps its rotation and scale, builds the chip rectangle
    ``size * scale`` pixels wide (dlib counts both edge pixels, so its
    corners lie ``size * scale - 1`` apart) around the mapped chip centre
    and maps its corners onto the chip's corner pixels 0 and size - 1.
    Differentiable in ``landmarks``.
    """
    points = landmarks[:, list(CHIP_LANDMARKS)].to(torch.float64)
    template = torch.as_tensor(chip_template(size, padding), dtype=torch.float64, device=points.device)
    src = torch.complex(template[:, 0], template[:, 1])
    dst = torch.complex(points[..., 0], points[..., 1])
    src_centre, dst_centre = src.mean(), dst.mean(dim=1, keepdim=True)
    # The least-squares similarity a * z + b in complex form (Umeyama's solution in 2-D).
    a = ((src - src_centre).conj() * (dst - dst_centre)).sum(dim=1) / (src - src_centre).abs().square().sum()
    centre = a * (complex(size / 2, size / 2) - src_centre) + dst_centre[:, 0]
    # chip pixel (i, j) -> centre + a / |a| * (size * |a| - 1) / (size - 1) * ((i, j) - (size - 1) / 2)
    step = a * (size - 1 / a.abs()) / (size - 1)
    offset = centre - step * complex((size - 1) / 2, (size - 1) / 2)
    rows = [torch.stack([step.real, -step.imag, offset.real], dim=1),
            torch.stack([step.imag, step.real, offset.imag], dim=1)]
    return torch.stack(rows, dim=1).to(landmarks.dtype if landmarks.is_floating_point() else torch.float32)


def _pyramid_levels(side: torch.Tensor, size: int) -> torch.Tensor:
    """How many times dlib halves the image (``pyramid_down<2>``) before sampling a chip whose
    rectangle is ``side`` pixels wide: while a halved rectangle (``(side + 1) / 2`` pixels, dlib
    counting both edge pixels) still has more pixels than the chip."""
    levels = torch.zeros_like(side, dtype=torch.long)
    while True:
        more = ((side + 1) / 2) ** 2 > size * size
        if not bool(more.any()):
            return levels
        levels += more.long()
        side = torch.where(more, (side + 1) / 2, side)


def extract_face_chips(images: torch.Tensor, landmarks: torch.Tensor, size: int = CHIP_SIZE,
                       padding: float = CHIP_PADDING) -> torch.Tensor:
    """dlib's aligned face chips (``dlib.get_face_chip(image, shape, size, padding)``) cut with torch: (B, C, size, size).

    ``images`` is (B, C, H, W) float (any range; the chips keep it),
    ``landmarks`` (B, 68, 2) the 68 points in (x, y) pixels of each image.
    Bilinear sampling at :func:`face_chip_transforms`; outside the image
    the chip is zero, as in dlib. Where dlib would sample a downsampled
    pyramid level (chip rectangle more than twice the chip's side), the image
    is first blurred by a Gaussian of the same width as dlib's pyramid and
    bilinear filters together. Differentiable in ``images`` and ``landmarks``.

    Raises:
        ValueError: mismatched batch sizes or landmarks not (B, 68, 2).
    """
    if images.ndim != 4 or landmarks.shape != (images.shape[0], 68, 2):
        raise ValueError(f"expected images (B, C, H, W) and landmarks (B, 68, 2), got {tuple(images.shape)} "
                         f"and {tuple(landmarks.shape)}")
    matrices = face_chip_transforms(landmarks, size, padding).to(images.dtype)
    side = matrices[:, :, :2].det().abs().sqrt().detach() * (size - 1) + 1  # the chip rectangle's width
    levels = _pyramid_levels(side, size)
    if bool((levels > 0).any()):
        # k halvings by binomial [1 4 6 4 1] / 16 filters (variance 1 in each level's pixels: 4**j in the
        # image's, (4**k - 1) / 3 in all) and bilinear sampling at level k rather than in the image
        # (variance 4**k / 6 instead of 1 / 6): a Gaussian of variance (4**k - 1) / 2 before sampling.
        sigma = torch.sqrt((4.0 ** levels.to(images.dtype) - 1) / 2)
        images = torch.stack([_gaussian_blur(image, float(s)) if s > 0 else image for image, s in zip(images, sigma)])
    height, width = images.shape[-2:]
    # pixel coordinates -> grid_sample's [-1, 1] (align_corners=True: -1 and 1 are the edge pixel centres)
    to_unit = torch.tensor([[2 / max(width - 1, 1), 0, -1], [0, 2 / max(height - 1, 1), -1]],
                           dtype=images.dtype, device=images.device)
    from_unit = torch.tensor([[(size - 1) / 2, 0, (size - 1) / 2], [0, (size - 1) / 2, (size - 1) / 2], [0, 0, 1]],
                             dtype=images.dtype, device=images.device)
    homogeneous = torch.cat([matrices, matrices.new_tensor([0, 0, 1]).expand(len(matrices), 1, 3)], dim=1)
    theta = to_unit @ homogeneous @ from_unit
    grid = F.affine_grid(theta, [len(images), images.shape[1], size, size], align_corners=True)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def _gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """(C, H, W) blurred by a separable Gaussian of ``sigma`` pixels (reflected borders)."""
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    x = F.pad(image[:, None], (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    return F.conv2d(x, kernel.view(1, 1, -1, 1))[:, 0]
