"""The geometric model: predict the landmarks of the target expression, warp the photo there, correct inside the face.

:class:`GeometricModel` (family ``geometric``) holds, per target expression it
knows, a :class:`~facexpr.models.geometric.shape.ShapeMap` and optionally an
:class:`~facexpr.models.geometric.appearance.Appearance` step. For each input
crop it finds dlib's 68 landmarks (the fixed template box of
:mod:`facexpr.judges.geometry`: aligned crops need no detector), predicts where
they would be, warps the crop there with a border-pinned thin-plate spline and
corrects what the warp cannot do inside the face: the appearance step, then
the judge-guided :class:`~facexpr.models.geometric.refiner.Refiner`, both in
proportion to how far the expression moved the landmarks (:func:`expression_gate`),
the refiner only where the warp moved the face (``refine_travel``).

* Neutral (the default target) needs no expression label: the neutral map was
  trained on every expressive crop and every neutral crop -> the person's
  neutral reference, so a neutral face stays put.
* Any other expression ``E`` the training data has: the input is first
  neutralized in shape, then the ``neutral -> E`` map adds the expression, so
  the input may itself be expressive.
* ``strength`` interpolates (and beyond 1, extrapolates) the shapes and scales
  the appearance correction: 0 returns the input.
* Landmarks (dlib) and blurs (OpenCV) run on the CPU, so the model computes
  there whatever :meth:`GeometricModel.to` says: it takes inputs on its
  device and returns outputs there.
* Several photos of one person: each photo's predicted target shape is
  averaged into one consensus shape, every photo is warped onto it and the
  warped photos are merged pixel by pixel, each pixel mostly from the photo
  that needed the least warping there (:func:`merge_weights`).

A crop whose landmarks cannot be used (see :func:`unusable_reasons`) is left as it is.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any, Callable, ClassVar

import numpy as np
import torch

from facexpr.data.records import normalize_expression
from facexpr.io import BadInputError, from_uint8, to_uint8
from facexpr.judges.expression import EXPRESSION_CLASSES, ExpressionJudge
from facexpr.judges.geometry import LandmarkJudge, landmark_error
from facexpr.models.base import FaceModel, register_model
from facexpr.models.geometric.appearance import Appearance
from facexpr.models.geometric.refiner import Refiner
from facexpr.models.geometric.shape import (
    POINTS,
    ShapeMap,
    implausible_reason,
    to_crop_units,
    to_pixels,
)
from facexpr.models.geometric.warp import (
    REGIONS,
    apply_grid,
    face_region_mask,
    moved_region,
    sampling_grid,
)

#: Least standard deviation of the grey level (in [0, 1]) inside the face outline of a usable crop.
MIN_FACE_CONTRAST = 0.02
#: Inner-landmark distance (inter-ocular units) from the predicted neutral shape at which
#: :meth:`GeometricModel.neutrality` falls to 1/e of the expression judge's p(neutral).
NEUTRALITY_SCALE = 0.01
#: Landmark distance (inter-ocular units) of the input from its full target shape at which the appearance step
#: and the refiner work at 1 - 1/e of their strength (:func:`expression_gate`). On FRL London's training people
#: the distance to the neutral shape of the unthresholded map is 0.0064 for neutral photos (90th percentile
#: 0.0096) and 0.025 for smiles (10th percentile 0.012).
GATE_SCALE = 0.015
#: Options a model folder saved before they existed gets (their behaviour then), not their defaults.
SAVED_BEFORE = {"refine_travel": 0.0}
#: Softness (pixels of travel at 128 px) of the multi-photo merge: 0 picks one photo per pixel, large values average.
MERGE_TEMPERATURE = 0.1


def merge_weights(travel: torch.Tensor, plausible: torch.Tensor, temperature: float = MERGE_TEMPERATURE) -> torch.Tensor:
    """Per-pixel weights (B, N, S, S), summing to 1 over the N photos, for merging warped photos.

    A photo's cost at a pixel is how far its content moved there plus how far
    it moved on average (how expressive the photo is): each pixel mostly comes
    from the photo that needed the least warping there, and where none moved
    (hair, background), from the most neutral photo. A soft minimum rather
    than an average keeps the result as sharp as one photo; photos whose
    landmarks are implausible get no weight (unless no photo is plausible).
    """
    cost = travel + travel.mean(dim=(-2, -1), keepdim=True)
    cost = cost.masked_fill(~plausible[:, :, None, None], float("inf"))
    return torch.softmax(-cost / temperature, dim=1).nan_to_num(1.0 / travel.shape[1])  # no plausible photo: even


@dataclass
class GeometricOptions:
    """How a geometric model is fitted (see ``facexpr train geometric --help``).

    Attributes:
        alpha: ridge penalty of the shape maps (crop units squared, against the summed error), when
            it is not chosen by cross-validation.
        components: PCA shape-space dimensions (None: the full 136-D shape).
        shape_threshold: soft threshold of the shape maps, in inter-ocular units (predicted movements far
            below it are treated as landmark noise; see ShapeMap), when it is not chosen by cross-validation.
        appearance: fit the appearance step.
        appearance_lambda: ridge penalty of the appearance regression.
        smoothing: Gaussian smoothing of the appearance correction, in pixels at 128 px.
        region: where the appearance step may change the warped crop: ``face`` or ``lower`` (see REGIONS).
        neutral_pairs: also train the neutral map on neutral crops -> the neutral reference (stay put).
        refine_steps: training steps of the judge-guided refiner after the appearance step (0: none; see
            facexpr.models.geometric.refiner).
        refine_judge: weight of the refiner's expression-judge loss (the output should read to the FER judge as
            the target photo does), beside its L1 loss.
        refine_smoothing: Gaussian smoothing of the refiner's change, in pixels at 128 px.
        refine_ssim: weight of the refiner's SSIM loss (against the target photo's luma, at half resolution)
            beside its L1 loss (0: none; see facexpr.training.geometric_refine for why it is off by default).
        refine_travel: how far (pixels at 128 px) the warp must have moved a pixel's content for the refiner to
            work there at 1 - 1/e of its strength (0: anywhere in the face mask). A change where the expression
            moved nothing (forehead, nose, a still eye) costs PSNR and SSIM against the person's real photo.
    """

    alpha: float = 0.01
    components: int | None = None
    shape_threshold: float = 0.0
    appearance: bool = True
    appearance_lambda: float = 0.3
    smoothing: float = 1.0
    neutral_pairs: bool = True
    region: str = "face"
    refine_steps: int = 300
    refine_judge: float = 0.03
    refine_smoothing: float = 3.0
    refine_ssim: float = 0.0
    refine_travel: float = 2.0

    def check(self) -> None:
        """Raise ValueError for an option outside its range."""
        if not self.alpha > 0 or not self.appearance_lambda > 0:
            raise ValueError(f"alpha and appearance_lambda must be positive, got {self.alpha} and {self.appearance_lambda}")
        if self.components is not None and self.components < 1:
            raise ValueError(f"components must be positive, got {self.components}")
        if self.shape_threshold < 0:
            raise ValueError(f"shape_threshold must not be negative, got {self.shape_threshold}")
        if self.smoothing < 0:
            raise ValueError(f"smoothing must not be negative, got {self.smoothing}")
        if min(self.refine_steps, self.refine_judge, self.refine_smoothing, self.refine_ssim, self.refine_travel) < 0:
            raise ValueError("refine_steps, refine_judge, refine_smoothing, refine_ssim and refine_travel must not be"
                             " negative")
        if self.region not in REGIONS:
            raise ValueError(f"region must be one of {', '.join(REGIONS)}, got {self.region!r}")


def expression_gate(shapes: torch.Tensor, goals: torch.Tensor) -> torch.Tensor:
    """How much of the appearance step and the refiner each input gets (B,), in [0, 1):
    ``1 - exp(-(d / GATE_SCALE) ** 2)`` for ``d`` the landmark distance of its crop-unit ``shapes`` (B, 68, 2)
    from its full target ``goals``. A face already in the target expression (a neutral photo asked for neutral)
    is left almost as the warp made it: what these steps learnt from expressive pairs goes to faces the
    expression moved. (On a Yale cross-validation, gating the appearance step too kept neutral photos steadier:
    landmark shift 0.016 against 0.019, p(neutral) change +0.02 against +0.07.)"""
    distance = torch.as_tensor(np.atleast_1d(landmark_error(shapes.numpy(), goals.numpy())), dtype=torch.float32)
    return 1.0 - torch.exp(-((distance / GATE_SCALE) ** 2))


@functools.lru_cache(maxsize=1)
def _expression_judge() -> ExpressionJudge:
    """One expression judge per process (it loads its weights on first use)."""
    return ExpressionJudge()


def find_landmarks(crops: torch.Tensor) -> torch.Tensor:
    """dlib's 68 landmarks (B, 68, 2) in pixels of aligned crops (B, C, S, S) in [0, 1]."""
    return torch.from_numpy(LandmarkJudge().landmarks(to_uint8(crops))).float()


@register_model
class GeometricModel(FaceModel):
    """Landmark-guided neutralization and synthesis (see the module docstring).

    Args:
        size, channels: crop size and colour the appearance step works at.
        shape_maps: expression -> shape map; ``"neutral"`` is required.
        appearance: expression -> appearance step (may be empty: warp only).
        refiners: expression -> judge-guided refiner applied after the appearance step (may be empty).
        options: how it was fitted (kept in the config).
        target_expression: what :meth:`predict` produces by default.
        training: a summary of the fit (data, pairs, skipped crops), kept in the config.
        max_inputs: photos per person that evaluation feeds it together (any number works in predict).
    """

    family: ClassVar[str] = "geometric"

    def __init__(
        self,
        size: int,
        channels: int,
        shape_maps: dict[str, ShapeMap],
        appearance: dict[str, Appearance] | None = None,
        options: GeometricOptions | None = None,
        target_expression: str = "neutral",
        training: dict[str, Any] | None = None,
        max_inputs: int = 1,
        refiners: dict[str, Refiner] | None = None,
    ):
        if "neutral" not in shape_maps:
            raise ValueError("a geometric model needs a neutral shape map")
        target_expression = normalize_expression(target_expression)
        if target_expression not in shape_maps:
            raise ValueError(f"unknown target {target_expression!r} (known: {', '.join(sorted(shape_maps))})")
        super().__init__(size, channels, None, target_expression, max_inputs)
        self.shape_maps = shape_maps
        self.appearance = appearance or {}
        self.refiners = refiners or {}
        self.options = options or GeometricOptions()
        self.training = dict(training or {})

    @property
    def target_expressions(self) -> tuple[str, ...]:
        """Every expression this model can produce, neutral first."""
        return ("neutral", *sorted(set(self.shape_maps) - {"neutral"}))

    def for_target(self, target: str) -> "GeometricModel":
        """The same model producing ``target`` by default (for evaluate and ``facexpr synthesize``).

        Raises:
            ValueError: an expression the model was not trained for.
        """
        return GeometricModel(self.size, self.channels, self.shape_maps, self.appearance, self.options,
                              self.check_request(target), self.training, self.max_inputs, self.refiners).to(self.device)

    # ------------------------------------------------------------------ shapes

    def target_shapes(self, shapes: torch.Tensor, target: str | None = None, strength: float = 1.0) -> torch.Tensor:
        """Crop-unit shapes (B, 68, 2) moved to ``target`` (default: the model's) at ``strength``.

        The full target shape (strength 1) of an expression other than neutral
        is the ``neutral -> target`` map applied to the predicted neutral shape;
        strength interpolates between the input shape (0) and it.

        Raises:
            ValueError: an expression the model was not trained for.
        """
        target = self.check_request(target, strength)
        goal = self.shape_maps["neutral"](shapes)
        if target != "neutral":
            goal = self.shape_maps[target](goal)
        return shapes + strength * (goal - shapes)

    @torch.no_grad()
    def neutrality(self, crops: torch.Tensor) -> np.ndarray:
        """How neutral each aligned crop (B, C, S, S) in [0, 1] looks, in [0, 1] (higher: more neutral).

        Two judges must agree: the FER2013 expression judge's p(neutral), and
        the shape model (how far the landmarks are from the neutral shape it
        predicts for them: ``exp(-distance / NEUTRALITY_SCALE)``). A crop whose
        landmarks cannot be used scores 0. Used to pick the neutral frame of a clip
        (``facexpr prepare clip.mp4``) and to filter datasets.
        """
        crops = crops.float().cpu()
        if crops.shape[1] != self.channels:
            crops = crops.mean(1, keepdim=True) if self.channels == 1 else crops.expand(-1, 3, -1, -1)
        shapes = to_crop_units(find_landmarks(crops), crops.shape[-1])
        distance = np.atleast_1d(landmark_error(shapes.numpy(), self.shape_maps["neutral"](shapes).numpy()))
        p_neutral = _expression_judge().probabilities(to_uint8(crops))
        usable = np.array([r is None for r in unusable_reasons(crops, shapes)])
        return p_neutral[:, EXPRESSION_CLASSES.index("neutral")] * np.exp(-distance / NEUTRALITY_SCALE) * usable

    # ------------------------------------------------------------------ prediction

    def predict(
        self,
        inputs: torch.Tensor,
        target: str | None = None,
        strength: float = 1.0,
        landmarks: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Map (B, N, C, S, S) crops to (B, C, S, S) on their device: the person with ``target`` at ``strength``.

        ``landmarks`` (B, N, 68, 2) in pixels skips the landmark search (the
        crops' own, e.g. from ``facexpr prepare``).
        """
        return self.explain(inputs, target, strength, landmarks)["output"].to(inputs.device)

    @torch.no_grad()
    def explain(
        self,
        inputs: torch.Tensor,
        target: str | None = None,
        strength: float = 1.0,
        landmarks: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """:meth:`predict` with its intermediate results (on the CPU), for reports and tests.

        Returns ``output`` (B, C, S, S), ``landmarks`` (B, N, 68, 2) found on the
        inputs and ``goal`` (B, 68, 2) the predicted target landmarks (pixels),
        ``grid`` (B, N, S, S, 2) where each photo's warp reads (``grid_sample``
        coordinates), ``warped`` (B, C, S, S) the merged warped photos before the
        appearance step, ``travel`` (B, S, S) how far their content moved
        (pixels), ``plausible`` (B, N) and ``gate`` (B,) how much of the appearance step and the refiner each item gets
        (:func:`expression_gate`, averaged over its usable photos), ``mask`` (B, 1, S, S) the soft face region
        the appearance step may change and ``refine_mask`` (B, 1, S, S) the part of it the refiner may change
        (where the warp moved content, :func:`~facexpr.models.geometric.warp.moved_region`). Photos whose landmarks cannot be used
        are not warped (their grid is the identity); an item without any usable
        photo returns its first photo.
        """
        batch, shots, channels, size = inputs.shape[0], inputs.shape[1], inputs.shape[2], inputs.shape[-1]
        if channels != self.channels or inputs.shape[-2] != size:
            raise ValueError(f"{self.name} expects {self.channels}-channel square crops, got {tuple(inputs.shape[2:])}")
        chosen = self.check_request(target, strength)
        flat = inputs.reshape(batch * shots, channels, size, size).float().cpu()
        found = find_landmarks(flat) if landmarks is None else landmarks.reshape(batch * shots, POINTS, 2).float().cpu()
        shapes = to_crop_units(found, size)
        plausible = torch.tensor([r is None for r in unusable_reasons(flat, shapes)]).reshape(batch, shots)
        goal_units = self.target_shapes(shapes, chosen, strength).reshape(batch, shots, POINTS, 2)
        weights = plausible.float().unsqueeze(-1).unsqueeze(-1)
        gate = expression_gate(shapes, self.target_shapes(shapes, chosen, 1.0)).reshape(batch, shots)
        gate = (gate * weights[..., 0, 0]).sum(1) / weights[..., 0, 0].sum(1).clamp_min(1.0)
        consensus = (goal_units * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        usable = plausible.any(dim=1)
        consensus = torch.where(usable[:, None, None], consensus, shapes.reshape(batch, shots, POINTS, 2)[:, 0])
        goal = to_pixels(consensus, size)
        targets = goal.repeat_interleave(shots, dim=0)
        sources = torch.where(plausible.reshape(-1, 1, 1), found, targets)  # unusable photos stay as they are
        grid = sampling_grid(sources, targets, size)
        warped, travel = apply_grid(flat, grid)
        warped, travel = warped.reshape(batch, shots, channels, size, size), travel.reshape(batch, shots, size, size)
        confidence = merge_weights(travel * (128.0 / size), plausible)
        merged = (warped * confidence.unsqueeze(2)).sum(1)
        moved = (travel * confidence).sum(1)
        step, refiner = self.appearance.get(chosen), self.refiners.get(chosen)
        mask = face_region_mask(goal, size, self.options.region)
        refine_mask = mask * moved_region(moved, self.options.refine_travel * size / 128.0)
        output = step(merged, mask, float(strength) * gate) if step is not None else merged
        if refiner is not None:
            output = refiner(output, refine_mask, float(strength) * gate)
        output = torch.where(usable[:, None, None, None], output, flat.reshape(batch, shots, channels, size, size)[:, 0])
        return {"output": output.clamp(0, 1), "landmarks": found.reshape(batch, shots, POINTS, 2), "goal": goal,
                "grid": grid.reshape(batch, shots, size, size, 2), "warped": merged, "travel": moved,
                "plausible": plausible, "gate": gate, "mask": mask,
                "refine_mask": refine_mask}

    def warp_fields(
        self, inputs: torch.Tensor, target: str | None = None, strength: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The outputs (B, C, S, S), each photo's warp (B, N, S, S, 2) and the correction after it (B, C, S, S)
        for ``target`` at ``strength``, on the CPU: what ``--paste`` applies to the full-resolution photo
        (:func:`facexpr.faces.paste_warp`)."""
        explained = self.explain(inputs, target, strength)
        return explained["output"], explained["grid"], explained["output"] - explained["warped"]

    # ------------------------------------------------------------------ saving

    def config(self) -> dict[str, Any]:
        """Base config plus the known expressions, options and training summary."""
        return {
            **super().config(),
            "target_expressions": list(self.target_expressions),
            "appearance_expressions": sorted(self.appearance),
            "appearance_luma": sorted(e for e, step in self.appearance.items() if step.luma),
            "refiner_expressions": sorted(self.refiners),
            "options": asdict(self.options),
            "training": self.training,
        }

    def tensors(self) -> dict[str, torch.Tensor]:
        """``shape.<expr>.{mean,weight,bias}``, ``appearance.<expr>.weights`` and ``refiner.<expr>.*``."""
        tensors: dict[str, torch.Tensor] = {}
        for expression, shape_map in self.shape_maps.items():
            tensors.update(shape_map.tensors(f"shape.{expression}"))
        for expression, step in self.appearance.items():
            tensors.update(step.tensors(f"appearance.{expression}"))
        for expression, refiner in self.refiners.items():
            tensors.update(refiner.tensors(f"refiner.{expression}"))
        return tensors

    @classmethod
    def from_saved(cls, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> "GeometricModel":
        """Rebuild from config and tensors.

        Raises:
            BadInputError: the tensors or config do not describe a geometric model.
        """
        try:
            options = GeometricOptions(**{**SAVED_BEFORE, **config.get("options", {})})
            size, channels = int(config["size"]), int(config["channels"])
            sigma = options.smoothing * size / 128.0
            shape_maps = {e: ShapeMap.from_tensors(tensors, f"shape.{e}") for e in config["target_expressions"]}
            appearance = {
                e: Appearance.from_tensors(tensors, f"appearance.{e}", channels, sigma, e,
                                           e in config.get("appearance_luma", []))
                for e in config.get("appearance_expressions", [])
            }
            refine_sigma = options.refine_smoothing * size / 128.0
            refiners = {e: Refiner.from_tensors(tensors, f"refiner.{e}", refine_sigma)
                        for e in config.get("refiner_expressions", [])}
            return cls(size, channels, shape_maps, appearance, options, config.get("target_expression", "neutral"),
                       config.get("training"), config.get("max_inputs", 1), refiners)
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise BadInputError(config.get("family", "?"), f"saved model does not match its config ({error})") from None


def unusable_reasons(crops: torch.Tensor, shapes: torch.Tensor) -> list[str | None]:
    """Per crop, why its landmarks cannot be used (:func:`implausible_reason`, or a flat face region:
    dlib's shape predictor returns its mean shape on a blank crop), or None."""
    reasons = [implausible_reason(shape) for shape in np.asarray(shapes)]
    grey = crops.mean(dim=1, keepdim=True)
    mask = face_region_mask(to_pixels(shapes, crops.shape[-1]), crops.shape[-1], sigma=0)
    area = mask.sum(dim=(1, 2, 3)).clamp_min(1.0)
    mean = (grey * mask).sum(dim=(1, 2, 3)) / area
    spread = (((grey - mean[:, None, None, None]) ** 2 * mask).sum(dim=(1, 2, 3)) / area).sqrt()
    return [reason or (f"the face region is flat (contrast {float(c):.3f}): no face in the crop"
                       if c < MIN_FACE_CONTRAST else None) for reason, c in zip(reasons, spread)]


def crop_shapes(crops: torch.Tensor) -> tuple[torch.Tensor, list[str | None]]:
    """Crop-unit shapes (n, 68, 2) of crops (n, C, S, S) and, per crop, why they cannot be used (or None)."""
    shapes = to_crop_units(find_landmarks(crops), crops.shape[-1])
    return shapes, unusable_reasons(crops, shapes)


def neutrality_scorer(model: GeometricModel) -> Callable[[list[np.ndarray]], np.ndarray]:
    """:meth:`GeometricModel.neutrality` for a list of aligned uint8 crops of one size, as video preparation takes it."""

    def score(crops: list[np.ndarray]) -> np.ndarray:
        """Neutrality of each crop."""
        return model.neutrality(from_uint8(crops))

    return score
