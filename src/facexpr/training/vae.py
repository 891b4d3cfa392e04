"""Stage 1 of the thesis: a beta-VAE learns the neutral faces of a prepared dataset (``facexpr train vae``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from facexpr.models.vae.config import VAEConfig
from facexpr.models.vae.model import VAEModel
from facexpr.models.vae.network import BetaVAE, kl_divergence, squared_error
from facexpr.training.callbacks import IncrementalBeta
from facexpr.training.data import DataSource, NeutralDataModule
from facexpr.training.methods import register_method
from facexpr.training.module import GenerativeModule, TrainingMethod
from facexpr.training.options import BetaSchedule, TrainOptions
from facexpr.training.trainer import TrainResult, check_out_dir, run_training


class VAEMethod(TrainingMethod):
    """Stage 1: terms ``recon`` (summed squared error per face) and ``kl`` (KL divergence per face), weighted
    1 and beta (``weights["kl"]``, which :class:`IncrementalBeta` raises). Training samples the latent;
    validation decodes its mean (what :class:`VAEModel` predicts)."""

    def __init__(self, config: VAEConfig):
        super().__init__(config.size)
        self.net = BetaVAE(config)

    @property
    def generator(self) -> BetaVAE:
        """The beta-VAE."""
        return self.net

    def run(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Encode, sample (in training) and decode a batch of neutral crops."""
        out = self.net(batch, sample=self.training)
        return {"output": out.reconstruction, "target": batch, "mu": out.mu, "logvar": out.logvar}

    def losses(self, player: str, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``recon`` and ``kl``, each averaged over the batch."""
        return {"recon": squared_error(outputs["output"], outputs["target"]).mean(),
                "kl": kl_divergence(outputs["mu"], outputs["logvar"]).mean()}

    def export(self) -> VAEModel:
        """The trained network as a :class:`VAEModel` (on the CPU, in eval mode)."""
        network = BetaVAE(self.net.config)
        network.load_state_dict({k: v.detach().cpu() for k, v in self.net.state_dict().items()})
        return VAEModel(self.net.config, network)


@register_method("vae", config=VAEConfig, beta=BetaSchedule, options=TrainOptions)
def train_vae(
    data: DataSource | Sequence[DataSource],
    out: str | Path,
    config: VAEConfig | None = None,
    beta: BetaSchedule | None = None,
    options: TrainOptions | None = None,
    split: str = "train",
    callbacks: tuple[Callback, ...] = (),
) -> TrainResult:
    """Stage 1: a beta-VAE learns the neutral faces of one or several prepared folders (validated on their
    val splits).

    It trains on every neutral crop of ``split`` into the folder ``out``.

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
    datamodule = NeutralDataModule(data, split, options.batch_size, options.workers, options.min_epoch_items)
    config = (config or VAEConfig.from_preset("cpu")).with_changes(channels=datamodule.channels)
    L.seed_everything(options.seed, workers=True, verbose=False)
    module = GenerativeModule(VAEMethod(config), {"recon": 1.0, "kl": beta.initial}, options.lr, options.augment)
    describe = {"stage": "vae", **datamodule.describe(), "vae": config.to_dict(), "beta_schedule": beta.to_dict()}
    callbacks = (IncrementalBeta(beta), *callbacks)
    return run_training(module, datamodule, out_dir, options, callbacks, describe)
