"""Stage 2: train the multi-image neutralizer on N-shot groups (``facexpr train neutralizer``)."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import lightning as L
import torch
from kornia.metrics import ssim
from lightning.pytorch.callbacks import Callback

from facexpr.data.pairing import PreparedDataset
from facexpr.io import BadInputError
from facexpr.models.base import load_model
from facexpr.models.neutralizer.config import NeutralizerConfig
from facexpr.models.neutralizer.model import NeutralizerModel
from facexpr.models.neutralizer.network import NeutralizerNet
from facexpr.models.vae.base import BaseEncoder
from facexpr.models.vae.model import VAEModel
from facexpr.models.vae.network import squared_error
from facexpr.training.data import distinct_items, nshot_loaders, open_prepared
from facexpr.training.module import StageModule
from facexpr.training.options import TrainOptions
from facexpr.training.trainer import TrainResult, check_out_dir, run_training


#: Taps of the Gaussian SSIM window (sigma 1.5), as in the evaluation's SSIM.
SSIM_WINDOW = 11


class NeutralizerLightning(StageModule):
    """Loss: summed squared error to the subject's neutral face (``recon``), plus ``reg`` =
    lambda * |V_T - V_R|_1 in the regularized modes, plus ``mask`` = the blending mask's sparsity penalty,
    plus ``ssim`` = ssim_weight * (1 - SSIM) when that weight is set.

    With ``random_shots`` each training batch uses a random number (1 to N) of
    its N photos in a random order, so the model serves any N.
    """

    def __init__(
        self,
        config: NeutralizerConfig,
        stage1: VAEModel | None = None,
        lr: float = 1e-3,
        augment: bool = True,
        random_shots: bool = True,
    ):
        super().__init__(config.vae.size, lr, augment)
        self.config = config
        self.random_shots = random_shots
        self.net = NeutralizerNet(config)
        if config.frozen and stage1 is not None:
            self.net.attach_stage1(stage1.network)
        self.teacher: BaseEncoder | None = None
        if config.regularized and stage1 is not None:
            self.teacher = copy.deepcopy(stage1.network.encoder).requires_grad_(False).eval()

    def train(self, mode: bool = True) -> "NeutralizerLightning":
        """Switch modes; the stage-1 teacher encoder always stays in eval mode."""
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def _step(self, batch: dict, stage: str) -> torch.Tensor:
        """Loss of one batch of groups, with every term logged."""
        inputs, target = self.prepare(batch["inputs"], batch["target"])
        if self.training and self.random_shots:
            shots = int(torch.randint(1, inputs.shape[1] + 1, ()))
            inputs = inputs[:, torch.randperm(inputs.shape[1])[:shots]]
        out = self.net(inputs)
        recon = squared_error(out.image, target).mean()
        terms: dict[str, torch.Tensor] = {"recon": recon}
        loss = recon
        if out.mask is not None:
            penalty = self.config.mask_penalty * out.mask.flatten(1).sum(1).mean()
            terms.update(mask=out.mask.mean(), mask_penalty=penalty)
            loss = loss + penalty
        if self.config.ssim_weight > 0:
            structure = self.config.ssim_weight * (1 - ssim(out.image, target, SSIM_WINDOW)).flatten(1).mean(1).mean()
            terms["ssim"] = structure
            loss = loss + structure
        if self.teacher is not None:
            with torch.no_grad():
                v_t, _ = self.teacher(target)
            reg = self.config.reg_lambda * (v_t - out.latent).abs().sum(1).mean()
            terms["reg"] = reg
            loss = loss + reg
        terms["loss"] = loss
        if stage == "val":
            terms["decoded_mse"] = (out.decoded - target).pow(2).mean()
        self.log_terms(stage, terms, inputs.shape[0])
        self.record_mse(out.image, target)
        return loss

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        """One optimisation step."""
        return self._step(batch, "train")

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        """Validation on fixed groups of N photos."""
        self._step(batch, "val")

    def export(self) -> NeutralizerModel:
        """The trained network as a :class:`NeutralizerModel` (on the CPU, in eval mode)."""
        network = NeutralizerNet(self.config)
        network.load_state_dict({k: v.detach().cpu() for k, v in self.net.state_dict().items()})
        return NeutralizerModel(self.config, network)


def load_stage1(path: str | Path) -> VAEModel:
    """A trained stage-1 model directory.

    Raises:
        BadInputError: not a model directory, or not a ``vae`` model.
    """
    model = load_model(path)
    if not isinstance(model, VAEModel):
        raise BadInputError(Path(path), f"--pretrained needs a stage-1 model (family vae), not {model.family!r}")
    return model


def train_neutralizer(
    data: str | Path | PreparedDataset,
    out: str | Path,
    config: NeutralizerConfig | None = None,
    pretrained: str | Path | None = None,
    options: TrainOptions | None = None,
    shots: int = 7,
    split: str = "train",
    callbacks: tuple[Callback, ...] = (),
) -> TrainResult:
    """Train stage 2 on groups of ``shots`` expressive crops per subject of ``split`` into the folder ``out``.

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
    prepared = open_prepared(data)
    channels = prepared.load(prepared.records[0]).shape[0]
    stage1 = None
    if config.pretrained:
        if pretrained is None:
            raise BadInputError(out_dir, f"mode {config.mode!r} needs a stage-1 model: pass --pretrained DIR")
        stage1 = load_stage1(pretrained)
        if stage1.channels != channels:
            raise BadInputError(Path(pretrained), f"stage-1 model has {stage1.channels} channel(s), the data {channels}")
        config = replace(config, vae=stage1.vae_config)
    config = replace(config, vae=config.vae.with_changes(channels=channels), max_inputs=shots)
    train_loader, val_loader, val_split = nshot_loaders(
        prepared, split, shots, options.batch_size, options.workers, options.seed, options.min_epoch_items)
    L.seed_everything(options.seed, workers=True, verbose=False)
    module = NeutralizerLightning(config, stage1, options.lr, options.augment)
    describe = {
        "stage": "neutralizer",
        "data": str(prepared.root),
        "pretrained": None if pretrained is None else str(pretrained),
        "train_split": split,
        "val_split": val_split,
        "train_items": distinct_items(train_loader.dataset),
        "epoch_items": len(train_loader.dataset),
        "val_items": len(val_loader.dataset),
        "shots": shots,
        "neutralizer": config.to_dict(),
    }
    return run_training(module, (train_loader, val_loader), out_dir, options, callbacks, describe)
