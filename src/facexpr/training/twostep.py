"""The two-step CNN learns from conditional pairs as the report trained it (``facexpr train twostep``).

Step 1 (photo + one-hot target -> the person's photo of that target) trains first, into ``OUT/step1`` (a
model of its own: the two-step CNN without refinement). Step 2 then trains on step 1's outputs, step 1
frozen (weights and batch-norm statistics), into ``OUT``; with ``classify`` the report's classification head
trains with it, by cross-entropy on the target expression of step 1's output (and, with ``classify_photos``,
of the target photo). Without ``refine`` step 1 trains straight into
``OUT``. Rerunning the same command after an interruption resumes the step that was running: a finished
step 1 (``OUT/step1/summary.json``) is loaded from its model folder, an interrupted one resumes from its
``last.ckpt``, as step 2 does from ``OUT/checkpoints/last.ckpt``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback

from facexpr.io import BadInputError
from facexpr.models.base import load_model
from facexpr.models.twostep.config import TwoStepConfig
from facexpr.models.twostep.model import TwoStepModel
from facexpr.models.twostep.network import TwoStepNet
from facexpr.training.data import ConditionalDataModule, DataSource
from facexpr.training.methods import register_method
from facexpr.training.module import GenerativeModule, TrainingMethod
from facexpr.training.options import TrainOptions
from facexpr.training.trainer import (
    SUMMARY_FILE,
    TrainResult,
    check_out_dir,
    run_training,
)

#: Sub-folder of ``OUT`` that step 1 trains into when step 2 follows.
STEP1_DIR = "step1"


def reconstruction(output: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor:
    """Per-pixel MSE or Smooth-L1 (beta 1) of output against target, averaged over the batch."""
    return F.mse_loss(output, target) if loss == "mse" else F.smooth_l1_loss(output, target, beta=1.0)


class _ConditionalMethod(TrainingMethod):
    """What both steps share: conditional batches (``input``, ``target``, ``label``) and the export."""

    image_keys = ("input", "target")

    def __init__(self, config: TwoStepConfig, net: TwoStepNet):
        super().__init__(config.size)
        self.config = config
        self.net = net

    @property
    def generator(self) -> TwoStepNet:
        """The two-step network (what is checkpointed and exported)."""
        return self.net

    def onehot(self, batch: dict[str, Any]) -> torch.Tensor:
        """The one-hot (B, K) of each item's target class."""
        return F.one_hot(batch["label"].long(), len(self.config.classes)).to(batch["input"].dtype)

    def export(self) -> TwoStepModel:
        """The trained network as a :class:`TwoStepModel` (on the CPU, in eval mode)."""
        network = TwoStepNet(self.config)
        network.load_state_dict({k: v.detach().cpu() for k, v in self.net.state_dict().items()})
        return TwoStepModel(self.config, network)


class Step1Method(_ConditionalMethod):
    """Step 1: term ``recon`` (``config.loss`` of the generated image against the target photo)."""

    def __init__(self, config: TwoStepConfig):
        config = config.step1_only
        super().__init__(config, TwoStepNet(config))

    def run(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The photos with their target's one-hot, through step 1."""
        return {"output": self.net.generate(batch["input"], self.onehot(batch)), "target": batch["target"]}

    def losses(self, player: str, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``recon``."""
        return {"recon": reconstruction(outputs["output"], outputs["target"], self.config.loss)}


class Step2Method(_ConditionalMethod):
    """Step 2 on step 1's frozen outputs: terms ``recon`` (of the refined image) and, with the head,
    ``classify`` (cross-entropy of the head's logits on step 1's output against the target class; with
    ``classify_photos`` averaged with the cross-entropy on the target photo). Logged only: ``coarse_recon``
    (step 1's loss on the same batch: how much refining changes it), ``accuracy`` (the head's on step 1's
    outputs) and ``photo_accuracy`` (on the target photos)."""

    def __init__(self, config: TwoStepConfig, step1: TwoStepModel):
        if not config.refine:
            raise ValueError("step 2 needs refine")
        net = TwoStepNet(config)
        net.generate.load_state_dict(step1.network.generate.state_dict())
        net.generate.requires_grad_(False).eval()
        super().__init__(config, net)

    def train(self, mode: bool = True) -> "Step2Method":
        """Switch modes; the frozen step 1 always stays in eval mode (fixed batch-norm statistics)."""
        super().train(mode)
        self.net.generate.eval()
        return self

    def run(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Step 1 (no gradient), then step 2 and the head."""
        onehot = self.onehot(batch)
        with torch.no_grad():
            coarse = self.net.generate(batch["input"], onehot)
        image, features = self.net.refine(coarse, onehot)
        outputs = {"output": image, "coarse": coarse, "target": batch["target"], "label": batch["label"].long()}
        if self.net.head is not None:
            outputs["logits"] = self.net.head(features)
            if self.config.classify_photos:
                outputs["photo_logits"] = self.net.classify(batch["target"])
        return outputs

    def losses(self, player: str, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``recon``, the head's ``classify`` and ``accuracy``, and ``coarse_recon``."""
        terms = {"recon": reconstruction(outputs["output"], outputs["target"], self.config.loss),
                 "coarse_recon": reconstruction(outputs["coarse"], outputs["target"], self.config.loss).detach()}
        if "logits" in outputs:
            label = outputs["label"]
            terms["classify"] = F.cross_entropy(outputs["logits"], label)
            terms["accuracy"] = (outputs["logits"].argmax(1) == label).float().mean().detach()
        if "photo_logits" in outputs:
            terms["classify"] = (terms["classify"] + F.cross_entropy(outputs["photo_logits"], label)) / 2
            terms["photo_accuracy"] = (outputs["photo_logits"].argmax(1) == label).float().mean().detach()
        return terms


def twostep_module(method: TrainingMethod, config: TwoStepConfig, options: TrainOptions) -> GenerativeModule:
    """The Lightning module of one step: weights ``recon`` 1 and ``classify`` (the config's), its optimizer."""
    weights = {"recon": 1.0, **({"classify": config.classify_weight} if config.classify else {})}
    return GenerativeModule(method, weights,
                            config.optimizer_lr or options.lr, options.augment, optimizer=config.optimizer,
                            momentum=config.momentum if config.optimizer == "sgd" else 0.0)


def _load_step1(folder: Path, config: TwoStepConfig) -> TwoStepModel:
    """A finished step 1 of this run, checked to be the same network.

    Raises:
        BadInputError: not a two-step model or trained with another configuration.
    """
    model = load_model(folder)
    if not isinstance(model, TwoStepModel) or model.twostep_config != config.step1_only:
        raise BadInputError(folder, "holds a step 1 trained with another configuration or data; choose another --out")
    return model


@register_method("twostep", config=TwoStepConfig, options=TrainOptions)
def train_twostep(
    data: DataSource | Sequence[DataSource],
    out: str | Path,
    split: str = "train",
    config: TwoStepConfig | None = None,
    options: TrainOptions | None = None,
    callbacks: tuple[Callback, ...] = (),
) -> TrainResult:
    """The two-step CNN ("Generating Facial Expressions"): one model for every target expression; step 1
    (photo + one-hot -> that expression), then step 2 refining its frozen outputs (and the classification head).

    Trains on the conditional pairs of ``split`` of one or several prepared folders (every expression the
    training data has, unless ``config.classes`` names them) into ``out``, step 1 into ``out/step1`` first
    when step 2 follows. ``config`` defaults to the ``cpu`` preset; ``channels`` and ``classes`` follow the
    data. Rerunning with the same ``out`` after an interruption resumes. Returns step 2's result (step 1's
    without ``refine``); its summary holds step 1's under ``step1``.

    Raises:
        BadInputError: unreadable data, no conditional pairs, ``out`` already holding a finished model, or a
            step 1 in ``out/step1`` trained with another configuration.
    """
    out_dir = Path(out)
    check_out_dir(out_dir)
    options = options or TrainOptions()
    config = config or TwoStepConfig.from_preset("cpu")
    datamodule = ConditionalDataModule(data, split, options.batch_size, options.workers, options.min_epoch_items,
                                       config.classes or None)
    config = config.with_changes(channels=datamodule.channels, classes=datamodule.classes)
    describe = {**datamodule.describe(), "twostep": config.to_dict()}
    step1_dir = out_dir / STEP1_DIR if config.refine else out_dir
    if config.refine and (step1_dir / SUMMARY_FILE).is_file():
        step1 = _load_step1(step1_dir, config)
        step1_summary = json.loads((step1_dir / SUMMARY_FILE).read_text())
    else:
        L.seed_everything(options.seed, workers=True, verbose=False)
        method1 = Step1Method(config)
        result = run_training(twostep_module(method1, config, options), datamodule, step1_dir, options, callbacks,
                              {"stage": "twostep-step1", **describe})
        if not config.refine:
            return result
        step1 = result.model if isinstance(result.model, TwoStepModel) else method1.export()
        step1_summary = result.summary
    L.seed_everything(options.seed + 1, workers=True, verbose=False)
    module = twostep_module(Step2Method(config, step1), config, options)
    return run_training(module, datamodule, out_dir, options, callbacks,
                        {"stage": "twostep-step2", **describe, "step1": {"folder": str(step1_dir),
                                                                         "summary": step1_summary}})
