"""``FaderModel``: the emotion-VAE paper's Fader network (family ``fader``): a face's code z and an expression
attribute y decode to that person with that expression, y dialled like a slider.

y holds one intensity per expression other than neutral (neutral: all zero).
A linear classifier on z (the paper's multiclass latent classifier, trained
in every condition, on a detached z in the L2-only one) reads the input's own
attributes, so that ``strength`` moves y in a straight line from the input's
(0: the reconstruction) to the target's (1) and beyond (1.5: an exaggerated
expression). Each attribute can also be traversed (``facexpr sample --traverse``,
:mod:`facexpr.models.emotion.traverse`) over its training range, 0 to 1: the
decoder learnt from one-hot labels.

With ``on_warp`` (ours) the output starts from the geometric model's face for
the target and strength, which keeps the person's own pixels, and the decoder
contributes what it changes of the face's appearance (decode(z, y) minus
decode(z, y_input)), moved by the same warp and added inside the face mask.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from facexpr.io import as_channels
from facexpr.models.base import FaceModel, network_tensors, register_model, resize_to
from facexpr.models.emotion.config import MAX_STRENGTH, NEUTRAL, FaderConfig
from facexpr.models.emotion.layers import PaperDecoder, paper_encoder
from facexpr.models.emotion.traverse import DEFAULT_STEPS, Traversable, Traversal
from facexpr.models.geometric import GeometricModel, face_region_mask, find_landmarks
from facexpr.models.geometric.embedded import (
    embedded_config,
    embedded_tensors,
    split_embedded,
)
from facexpr.models.geometric.warp import apply_grid

#: The values each attribute took in training: the decoder got the crops' one-hot labels.
ATTRIBUTE_RANGE = (0.0, 1.0)


def latent_head(latent: int, head: nn.Module) -> nn.Sequential:
    """``head`` reading codes standardised by batch statistics (running ones at inference): faces differ in
    z by a fraction of its magnitude, which a head on raw codes learns only slowly."""
    return nn.Sequential(nn.BatchNorm1d(latent, affine=False), head)


class FaderNet(nn.Module):
    """Encoder (the classifier's layers, z = F``latent``), decoder of (z, y) and the latent classifier (linear
    on standardised codes)."""

    def __init__(self, config: FaderConfig):
        super().__init__()
        self.config = config
        self.encoder = paper_encoder(config.channels, config.size, config.pool_stride, config.latent)
        attributes = len(config.attributes)
        self.decoder = PaperDecoder(config.latent + attributes, config.size, config.channels, config.final_dense,
                                    attributes if config.every_layer else 0)
        self.reader = latent_head(config.latent, nn.Linear(config.latent, len(config.classes)))
        keep = [i for i, c in enumerate(config.classes) if c != NEUTRAL]
        self.register_buffer("attribute_index", torch.tensor(keep), persistent=False)

    def encode(self, crops: torch.Tensor) -> torch.Tensor:
        """Codes z (B, latent) of crops (B, C, S, S)."""
        return self.encoder(crops)

    def decode(self, codes: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
        """Crops (B, C, S, S) in [0, 1] from codes and attributes y (B, A)."""
        return self.decoder(torch.cat([codes, attributes.to(codes.dtype)], 1), attributes)

    def attributes(self, class_weights: torch.Tensor) -> torch.Tensor:
        """y (B, A) from per-class weights (B, K): one-hot labels or probabilities, the neutral column dropped."""
        return class_weights.index_select(1, self.attribute_index)

    def label_attributes(self, labels: torch.Tensor) -> torch.Tensor:
        """y (B, A) of class indices (B,)."""
        return self.attributes(F.one_hot(labels, len(self.config.classes)).float())


def unknown_expressions(config: FaderConfig, geometric: GeometricModel) -> str:
    """What the geometric model lacks for an on-warp Fader: "cannot produce X (it knows: ...)", or "" when it
    knows every class."""
    missing = [c for c in config.classes if c not in geometric.target_expressions]
    if not missing:
        return ""
    return f"cannot produce {', '.join(missing)} (it knows: {', '.join(geometric.target_expressions)})"


@register_model
class FaderModel(Traversable, FaceModel):
    """A face and a target expression -> that person with that expression, at a strength from 0 (the input's
    own expression, reconstructed) through 1 (the target) to 1.5 (exaggerated). Neutral by default, so
    ``facexpr neutralize`` works; :meth:`for_target` sets another default. It also classifies (its latent
    classifier), so ``facexpr classify --model DIR`` accepts it, and traverses each attribute from 0 to 1
    with the code z and the other attributes (read by the latent classifier) kept (the decoder's faces; on
    warp the traversal is the slider itself, :meth:`traverse`).
    On warp, ``geometric`` (kept inside the model) gives the face the decoder's change of appearance is added
    to, and the model works at its resolution.

    Raises:
        ValueError: a default target outside the classes, or on warp without a geometric model that knows every
            class (naming the missing ones).
    """

    family = "fader"

    def __init__(self, config: FaderConfig, network: FaderNet | None = None, target_expression: str | None = None,
                 geometric: GeometricModel | None = None):
        default = target_expression or NEUTRAL
        if default not in config.classes:
            raise ValueError(f"fader cannot produce {default!r} (it knows: {', '.join(config.classes)})")
        if config.on_warp:
            if geometric is None:
                raise ValueError("the on-warp Fader needs the geometric model its output starts from")
            if unknown := unknown_expressions(config, geometric):
                raise ValueError(f"the geometric model {unknown}")
        self.geometric = geometric if config.on_warp else None
        size = self.geometric.size if self.geometric is not None else config.size
        super().__init__(size, config.channels, None, default, max_inputs=1)
        self.fader_config = config
        self.network = (network if network is not None else FaderNet(config)).eval()
        if self.geometric is not None:  # only on warp is it a WarpingModel (--paste moves the photo's pixels)
            self.warp_fields = self._warp_fields

    @property
    def target_expressions(self) -> tuple[str, ...]:
        """Every expression of the training data (neutral included)."""
        return self.fader_config.classes

    @property
    def classes(self) -> tuple[str, ...]:
        """The latent classifier's expressions (the same list)."""
        return self.fader_config.classes

    @property
    def name(self) -> str:
        """``fader-<condition>`` (``-on-warp`` appended for ours)."""
        return f"fader-{self.fader_config.condition}" + ("-on-warp" if self.geometric is not None else "")

    def for_target(self, target: str) -> FaderModel:
        """The same network producing ``target`` by default.

        Raises:
            ValueError: an expression the model was not trained for (naming the known ones).
        """
        return FaderModel(self.fader_config, self.network, self.check_request(target), self.geometric).to(self.device)

    def _crops(self, crops: torch.Tensor) -> torch.Tensor:
        """Crops (B, C, H, W) at the network's size and channels."""
        return as_channels(resize_to(crops.float(), self.fader_config.size), self.channels)

    @torch.no_grad()
    def classify(self, crops: torch.Tensor) -> torch.Tensor:
        """The latent classifier's probabilities (B, K) of :attr:`classes` for crops (B, C, H, W) in [0, 1]."""
        if crops.ndim != 4:
            raise ValueError(f"expected crops (B, C, H, W), got shape {tuple(crops.shape)}")
        return torch.softmax(self.network.reader(self.network.encode(self._crops(crops))), 1)

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, target: str | None = None, strength: float = 1.0) -> torch.Tensor:
        """The first photo of each item (B, N, C, H, W) with ``target`` (default :attr:`target_expression`) at
        ``strength`` in [0, 1.5]: y = y_input + strength * (y_target - y_input), y_input read by the latent
        classifier; decoded, or on warp added as a change of appearance to the geometric model's face.

        Raises:
            ValueError: an unknown target, a strength outside [0, 1.5], or crops of the wrong shape.
        """
        chosen, faces, change = self._decoded(inputs, target, strength)
        if self.geometric is None:
            return faces.clamp(0, 1)
        return self._on_warp(inputs[:, :1], chosen, strength, change)[0]

    @torch.no_grad()
    def _warp_fields(self, inputs: torch.Tensor, target: str | None = None, strength: float = 1.0
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """On warp, what ``--paste`` applies to the full-resolution photo (:class:`~facexpr.models.WarpingModel`):
        the outputs (B, C, S, S), the geometric model's warp of the first photo (B, N, S, S, 2: the model reads
        the first photo only, so every photo of an item gets its warp) and the correction after it (its
        appearance step and the decoder's change), on the CPU."""
        chosen, _, change = self._decoded(inputs, target, strength)
        output, explained = self._on_warp(inputs[:, :1], chosen, strength, change)
        grids = explained["grid"].expand(-1, inputs.shape[1], -1, -1, -1)
        return output.cpu(), grids, output.cpu() - explained["warped"]

    def _decoded(self, inputs: torch.Tensor, target: str | None, strength: float, dial: bool = True
                 ) -> tuple[str, torch.Tensor, torch.Tensor | None]:
        """The checked target, the decoder's faces (B, C, s, s) at the dialled attributes and, on warp, their
        change from the decoder's faces at the input's own attributes (``dial`` False: any strength, the
        traversal's opposite strip goes below 0).

        Raises:
            ValueError: see :meth:`predict`.
        """
        chosen = self.check_request(target, strength)
        if dial and not 0.0 <= strength <= MAX_STRENGTH:
            raise ValueError(f"{self.name} dials strength from 0 to {MAX_STRENGTH:g}, not {strength:g}")
        if inputs.ndim != 5 or inputs.shape[2] not in (1, 3):
            raise ValueError(f"expected crops (B, N, C, H, W), got shape {tuple(inputs.shape)}")
        codes, own = self.latent_attributes(inputs[:, 0])
        index = torch.full((codes.shape[0],), self.fader_config.classes.index(chosen), device=codes.device)
        wanted = self.network.label_attributes(index)
        faces = self.network.decode(codes, own + strength * (wanted - own))
        change = faces - self.network.decode(codes, own) if self.geometric is not None else None
        return chosen, faces, change

    def _on_warp(self, inputs: torch.Tensor, target: str, strength: float, change: torch.Tensor,
                 landmarks: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The geometric model's faces (B, C, S, S) for ``target`` at ``strength`` plus the decoder's change of
        appearance (B, C, s, s) as a change of brightness (its luma, added to every channel: the decoder's
        colours are blurred averages, and an expression it saw only in grey photos would turn faces grey),
        upsampled, moved by the same warp as the photo and kept inside the face mask of the predicted landmarks
        (where the decoder's blur cannot reach the hair and background); and what the geometric model explained
        (``landmarks`` (B, 1, 68, 2): the photos' at its size, already found)."""
        size = self.geometric.size
        explained = self.geometric.explain(resize_to(inputs.float(), size), target, strength, landmarks)
        change = as_channels(change.float().cpu(), 1).expand(-1, self.channels, -1, -1)
        change = F.interpolate(change, size=(size, size), mode="bilinear", align_corners=False)
        carried, _ = apply_grid(change, explained["grid"][:, 0])
        mask = face_region_mask(explained["goal"], size)
        return (explained["output"] + mask * carried).clamp(0, 1).to(inputs.device), explained

    @torch.no_grad()
    def traverse(self, crops: torch.Tensor, expression: str, steps: int = DEFAULT_STEPS) -> Traversal:
        """The decoder's strips (:meth:`Traversable.traverse`, the paper's figure); on warp the slider itself:
        the outputs for ``expression`` at strengths 0 to 1 and, the opposite strip, 0 to -1 (the attributes and
        the landmarks moved away from it), with the expression's attribute value at each.

        Raises:
            ValueError: crops of the wrong shape, fewer than 2 steps, or an expression without an attribute.
        """
        if self.geometric is None:
            return super().traverse(crops, expression, steps)
        if crops.ndim != 4:
            raise ValueError(f"expected crops (B, C, H, W), got shape {tuple(crops.shape)}")
        if steps < 2:
            raise ValueError(f"a traversal needs at least 2 steps, got {steps}")
        axis = self.traversal_axis(expression)
        name = self.traversable[axis]
        start = self.latent_attributes(crops)[1][:, axis:axis + 1].cpu()
        ramp = torch.linspace(0.0, 1.0, steps)
        landmarks = find_landmarks(resize_to(crops.float().cpu(), self.geometric.size)).unsqueeze(1)  # once

        def strip(sign: float) -> torch.Tensor:
            faces = []
            for strength in (sign * ramp).tolist():
                _, _, change = self._decoded(crops[:, None], name, strength, dial=False)
                faces.append(self._on_warp(crops[:, None], name, strength, change, landmarks)[0].cpu())
            return torch.stack(faces, 1)

        return Traversal(name, start + ramp * (1 - start), strip(1.0), start - ramp * (1 - start), strip(-1.0))

    @property
    def traversable(self) -> tuple[str, ...]:
        """The expressions y holds an intensity of (every class but neutral)."""
        return self.fader_config.attributes

    def traversal_range(self, expression: str) -> tuple[float, float]:
        """0 to 1 for every attribute: the decoder trained on one-hot labels (the latent classifier's readings
        only set the kept attributes)."""
        return ATTRIBUTE_RANGE

    def latent_attributes(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes z (B, latent) and the attributes y (B, A) the latent classifier reads from them."""
        codes = self.network.encode(self._crops(crops))
        return codes, self.network.attributes(torch.softmax(self.network.reader(codes), 1))

    def decode_attributes(self, rest: torch.Tensor, attributes: torch.Tensor) -> torch.Tensor:
        """Crops (B, C, S, S) decoded from codes z and attributes y."""
        return self.network.decode(rest, attributes)

    def config(self) -> dict[str, Any]:
        """Base config plus ``fader`` (the training configuration, classes included) and, on warp,
        ``geometric`` (its config)."""
        return {**super().config(), "fader": self.fader_config.to_dict(), **embedded_config(self.geometric)}

    def tensors(self) -> dict[str, torch.Tensor]:
        """The encoder's, decoder's and latent classifier's weights (and, on warp, the geometric model's)."""
        return {**network_tensors(self.network), **embedded_tensors(self.geometric)}

    def _move_tensors(self, device: torch.device) -> None:
        """Move the network (the geometric model runs on the CPU)."""
        self.network.to(device)

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> FaderModel:
        """Rebuild the network from ``config["fader"]`` (and the geometric model from ``config["geometric"]``)
        and load the saved weights."""
        fader_config = FaderConfig.from_dict(config["fader"])
        own, geometric = split_embedded(config, tensors)
        network = FaderNet(fader_config)
        network.load_state_dict(own)
        return cls(fader_config, network, config.get("target_expression"), geometric)
