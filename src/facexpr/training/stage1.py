"""Stage 1: train a beta-VAE on the neutral faces of a prepared dataset (``facexpr train vae``)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from facexpr.data.pairing import PreparedDataset
from facexpr.models.vae.config import VAEConfig
from facexpr.models.vae.model import VAEModel
from facexpr.models.vae.network import BetaVAE, kl_divergence, squared_error
from facexpr.training.callbacks import IncrementalBeta
from facexpr.training.data import distinct_items, neutral_loaders, open_prepared
from facexpr.training.module import StageModule
from facexpr.training.options import BetaSchedule, TrainOptions
from facexpr.training.trainer import TrainResult, check_out_dir, run_training


class VAELightning(StageModule):
    """Loss ``recon + beta * kl``: summed squared error per face plus beta times the KL divergence per face.

    Logs ``recon``, ``kl``, ``beta`` and ``loss`` separately; validation
    decodes the latent mean (what :class:`VAEModel` predicts).
    """

    def __init__(self, config: VAEConfig, beta: float, lr: float = 1e-3, augment: bool = True):
        super().__init__(config.size, lr, augment)
        self.net = BetaVAE(config)
        self.beta = beta

    def _step(self, batch: torch.Tensor, stage: str) -> torch.Tensor:
        """Loss of one batch of neutral crops, with every term logged."""
        (x,) = self.prepare(batch)
        out = self.net(x, sample=self.training)
        recon = squared_error(out.reconstruction, x).mean()
        kl = kl_divergence(out.mu, out.logvar).mean()
        loss = recon + self.beta * kl
        self.log_terms(stage, {"recon": recon, "kl": kl, "beta": float(self.beta), "loss": loss}, x.shape[0])
        self.record_mse(out.reconstruction, x)
        return loss

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        """One optimisation step on sampled latents."""
        return self._step(batch, "train")

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        """Validation through the latent mean."""
        self._step(batch, "val")

    def export(self) -> VAEModel:
        """The trained network as a :class:`VAEModel` (on the CPU, in eval mode)."""
        network = BetaVAE(self.net.config)
        network.load_state_dict({k: v.detach().cpu() for k, v in self.net.state_dict().items()})
        return VAEModel(self.net.config, network)


def train_vae(
    data: str | Path | PreparedDataset,
    out: str | Path,
    config: VAEConfig | None = None,
    beta: BetaSchedule | None = None,
    options: TrainOptions | None = None,
    split: str = "train",
    callbacks: tuple[Callback, ...] = (),
) -> TrainResult:
    """Train stage 1 on every neutral crop of ``split`` (validated on ``val``) into the folder ``out``.

    ``config`` defaults to the CPU preset; its ``channels`` follows the data.
    Rerunning with the same ``out`` after an interruption resumes. See
    :mod:`facexpr.training.trainer` for what the folder holds.

    Raises:
        BadInputError: unreadable data, no neutral crops, or ``out`` already holds a finished model.
    """
    out_dir = Path(out)
    check_out_dir(out_dir)
    options = options or TrainOptions()
    beta = beta or BetaSchedule()
    prepared = open_prepared(data)
    channels = prepared.load(prepared.records[0]).shape[0]
    config = (config or VAEConfig.from_preset("cpu")).with_changes(channels=channels)
    train_loader, val_loader, val_split = neutral_loaders(
        prepared, split, options.batch_size, options.workers, options.min_epoch_items)
    L.seed_everything(options.seed, workers=True, verbose=False)
    module = VAELightning(config, beta.initial, options.lr, options.augment)
    describe = {
        "stage": "vae",
        "data": str(prepared.root),
        "train_split": split,
        "val_split": val_split,
        "train_items": distinct_items(train_loader.dataset),
        "epoch_items": len(train_loader.dataset),
        "val_items": len(val_loader.dataset),
        "vae": config.to_dict(),
        "beta_schedule": beta.to_dict(),
    }
    callbacks = (IncrementalBeta(beta), *callbacks)
    return run_training(module, (train_loader, val_loader), out_dir, options, callbacks, describe)
