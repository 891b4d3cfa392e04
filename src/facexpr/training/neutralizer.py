"""Stage 2 of the thesis: the multi-image neutralizer learns from N-shot groups (``facexpr train neutralizer``)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import lightning as L
import torch
from kornia.metrics import ssim
from lightning.pytorch.callbacks import Callback
from torch import nn

from facexpr.io import BadInputError
from facexpr.models.base import load_model
from facexpr.models.neutralizer.config import NeutralizerConfig
from facexpr.models.neutralizer.model import NeutralizerModel
from facexpr.models.neutralizer.network import NeutralizerNet
from facexpr.models.vae.model import VAEModel
from facexpr.models.vae.network import squared_error
from facexpr.training.data import DataSource, NShotDataModule
from facexpr.training.methods import register_method
from facexpr.training.module import GenerativeModule, TrainingMethod
from facexpr.training.options import TrainOptions
from facexpr.training.trainer import TrainResult, check_out_dir, run_training

#: Taps of the Gaussian SSIM window (sigma 1.5), as in the evaluation's SSIM.
SSIM_WINDOW = 11


class NeutralizerMethod(TrainingMethod):
    """Stage 2: terms ``recon`` (summed squared error to the subject's neutral face), ``mask_penalty`` (the
    blending mask's summed values, its sparsity penalty), ``ssim`` (1 - SSIM) and ``reg`` (|V_T - V_R|_1
    against the stage-1 teacher's latent of the target, in the regularized modes); weighted by
    :func:`neutralizer_weights`. ``mask`` (the mean mask) and ``decoded_mse`` are logged only.

    With ``random_shots`` each training batch uses a random number (1 to N) of
    its N photos in a random order, so the model serves any N.
    """

    def __init__(self, config: NeutralizerConfig, stage1: VAEModel | None = None, random_shots: bool = True):
        super().__init__(config.vae.size)
        self.config = config
        self.random_shots = random_shots
        self.net = NeutralizerNet(config)
        if config.frozen and stage1 is not None:
            self.net.attach_stage1(stage1.network)
        self.teacher: nn.Module | None = None
        if config.regularized and stage1 is not None:
            self.teacher = copy.deepcopy(stage1.network.encoder).requires_grad_(False).eval()

    @property
    def generator(self) -> NeutralizerNet:
        """The multi-image neutralizer."""
        return self.net

    def train(self, mode: bool = True) -> "NeutralizerMethod":
        """Switch modes; the stage-1 teacher encoder always stays in eval mode."""
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def run(self, batch: dict) -> dict[str, torch.Tensor]:
        """N photos per subject (a random subset in training with ``random_shots``) -> the neutral face."""
        inputs = batch["inputs"]
        if self.training and self.random_shots:
            shots = int(torch.randint(1, inputs.shape[1] + 1, ()))
            inputs = inputs[:, torch.randperm(inputs.shape[1])[:shots]]
        out = self.net(inputs)
        outputs = {"output": out.image, "target": batch["target"], "decoded": out.decoded, "latent": out.latent}
        if out.mask is not None:
            outputs["mask"] = out.mask
        return outputs

    def losses(self, player: str, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The terms the config turns on, each averaged over the batch, and the diagnostics."""
        output, target = outputs["output"], outputs["target"]
        terms = {"recon": squared_error(output, target).mean()}
        if "mask" in outputs:
            terms.update(mask=outputs["mask"].mean(), mask_penalty=outputs["mask"].flatten(1).sum(1).mean())
        if self.config.ssim_weight > 0:
            terms["ssim"] = (1 - ssim(output, target, SSIM_WINDOW)).flatten(1).mean(1).mean()
        if self.teacher is not None:
            with torch.no_grad():
                v_t, _ = self.teacher(target)
            terms["reg"] = (v_t - outputs["latent"]).abs().sum(1).mean()
        terms["decoded_mse"] = (outputs["decoded"].detach() - target).pow(2).mean()
        return terms

    def export(self) -> NeutralizerModel:
        """The trained network as a :class:`NeutralizerModel` (on the CPU, in eval mode)."""
        network = NeutralizerNet(self.config)
        network.load_state_dict({k: v.detach().cpu() for k, v in self.net.state_dict().items()})
        return NeutralizerModel(self.config, network)


def neutralizer_weights(config: NeutralizerConfig) -> dict[str, float]:
    """The weight of each optimised term: 1 for ``recon``, then the config's mask penalty, SSIM weight and
    lambda (the regularizer's)."""
    return {"recon": 1.0, "mask_penalty": config.mask_penalty, "ssim": config.ssim_weight, "reg": config.reg_lambda}


def load_stage1(path: str | Path) -> VAEModel:
    """A trained stage-1 model directory.

    Raises:
        BadInputError: not a model directory, or not a ``vae`` model.
    """
    model = load_model(path)
    if not isinstance(model, VAEModel):
        raise BadInputError(Path(path), f"--pretrained needs a stage-1 model (family vae), not {model.family!r}")
    return model


@dataclass(frozen=True)
class Stage1Source:
    """Where stage 2 starts from.

    Attributes:
        pretrained: a trained stage-1 (vae) model folder, required by every mode
            but scratch; the architecture is then the stage-1 model's.
    """

    pretrained: str | None = None


@register_method("neutralizer", config=NeutralizerConfig, start=Stage1Source, options=TrainOptions)
def train_neutralizer_method(data: Sequence[DataSource], out: str | Path, split: str, config: NeutralizerConfig,
                             start: Stage1Source, options: TrainOptions) -> TrainResult:
    """Stage 2: the multi-image neutralizer learns from N-shot groups (with --pretrained, the architecture
    options come from stage 1).

    :func:`train_neutralizer` with ``config.max_inputs`` photos per group.
    """
    return train_neutralizer(data, out, config, start.pretrained, options, shots=config.max_inputs, split=split)


def train_neutralizer(
    data: DataSource | Sequence[DataSource],
    out: str | Path,
    config: NeutralizerConfig | None = None,
    pretrained: str | Path | None = None,
    options: TrainOptions | None = None,
    shots: int = 7,
    split: str = "train",
    callbacks: tuple[Callback, ...] = (),
) -> TrainResult:
    """Train stage 2 on groups of ``shots`` expressive crops per subject of ``split`` of one or several
    prepared folders into the folder ``out``.

    ``pretrained`` (a stage-1 model folder) is required by every mode but
    ``scratch``; the architecture is then the stage-1 model's. ``max_inputs``
    of the saved model is ``shots``. Rerunning after an interruption resumes.

    Raises:
        BadInputError: unreadable data or stage-1 model, a mode that needs a
            missing ``pretrained``, channels that differ from the stage-1
            model's, or ``out`` already holding a finished model.
    """
    out_dir = Path(out)
    check_out_dir(out_dir)
    options = options or TrainOptions()
    config = config or NeutralizerConfig()
    datamodule = NShotDataModule(data, shots, split, options.batch_size, options.workers, options.min_epoch_items,
                                 options.seed)
    channels = datamodule.channels
    stage1 = None
    if config.pretrained:
        if pretrained is None:
            raise BadInputError(out_dir, f"mode {config.mode!r} needs a stage-1 model: pass --pretrained DIR")
        stage1 = load_stage1(pretrained)
        if stage1.channels != channels:
            raise BadInputError(Path(pretrained), f"stage-1 model has {stage1.channels} channel(s), the data {channels}")
        config = replace(config, vae=stage1.vae_config)
    config = replace(config, vae=config.vae.with_changes(channels=channels), max_inputs=shots)
    L.seed_everything(options.seed, workers=True, verbose=False)
    module = GenerativeModule(NeutralizerMethod(config, stage1), neutralizer_weights(config), options.lr, options.augment)
    describe = {"stage": "neutralizer", **datamodule.describe(),
                "pretrained": None if pretrained is None else str(pretrained), "neutralizer": config.to_dict()}
    return run_training(module, datamodule, out_dir, options, callbacks, describe)
