"""``facexpr train vae`` and ``facexpr train neutralizer``: the two stages of the thesis' neutralizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from facexpr.cli.common import console, friendly_errors, verbose
from facexpr.io import BadInputError

DATA = typer.Option(..., "--data", "-d", help="A prepared dataset folder (facexpr prepare).")
OUT = typer.Option(..., "--out", "-o", help="Model folder; rerun the same command to resume an interrupted run.")
SPLIT = typer.Option("train", "--split", help="Split to train on (validation uses 'val').")
ARCH = typer.Option("resnet", "--arch", help="Encoder: vgg, resnet or bigconv (the decoder mirrors it; resnet learns fastest on a CPU).")
PRESET = typer.Option("cpu", "--preset", help="cpu (64 px, 1/8 widths) or paper (128 px, published widths; for GPUs).")
SIZE = typer.Option(None, "--size", help="Crop side: 32, 64, 128 or 256 (default: the preset's).")
WIDTH = typer.Option(None, "--width", help="Width multiplier of the published channels (default: the preset's).")
LATENT = typer.Option(64, "--latent-dim", min=1, help="Latent dimension.")
EPOCHS = typer.Option(60, "--epochs", min=1, help="Maximum epochs.")
BATCH = typer.Option(16, "--batch-size", min=1, help="Items per step and device.")
LR = typer.Option(1e-3, "--lr", help="Adam learning rate.")
SEED = typer.Option(0, "--seed", help="Random seed (Python, NumPy, torch).")
PATIENCE = typer.Option(10, "--patience", min=1, help="Stop after this many epochs without a better validation MSE.")
DEPARTURE = typer.Option(0.3, "--departure", min=0.0, help="Stop when validation MSE exceeds training MSE by this fraction (0: off).")
WARMUP = typer.Option(5, "--warmup", min=0, help="Epochs before the departure rule applies.")
AUGMENT = typer.Option(True, "--augment/--no-augment", help="Random flip, jitter, perspective and rotation in training.")
ACCELERATOR = typer.Option("auto", "--accelerator", help="cpu, gpu, mps or auto.")
DEVICES = typer.Option("auto", "--devices", help="Devices per node: a number, a list like 0,1, or auto.")
STRATEGY = typer.Option("auto", "--strategy", help="auto, ddp, ddp_spawn, ... (Lightning strategies).")
NODES = typer.Option(1, "--num-nodes", min=1, help="Machines for multi-node DDP.")
PRECISION = typer.Option("32-true", "--precision", help="32-true, 16-mixed, bf16-mixed, ...")
CHECKPOINT_EVERY = typer.Option(0, "--checkpoint-every", min=0, help="Also save last.ckpt every N steps (0: each epoch).")
EPOCH_ITEMS = typer.Option(512, "--epoch-items", min=0, help="Draw at least this many training items per epoch (small datasets are repeated with new augmentations; 0: one pass).")
EMA = typer.Option(0.0, "--ema", min=0.0, max=0.9999, help="Validate and keep an exponential moving average of the weights with this decay per step (0: off).")
PROGRESS = typer.Option(True, "--progress/--no-progress", help="Show the progress bar.")


def _options(values: dict[str, Any]):
    """TrainOptions from a command's parameters (those named like its fields; ``epoch_items`` is
    ``min_epoch_items``); invalid combinations become one-line errors."""
    from dataclasses import fields

    from facexpr.training import TrainOptions

    values = {**values, "min_epoch_items": values["epoch_items"], "verbose": verbose()}
    try:
        return TrainOptions(**{f.name: values[f.name] for f in fields(TrainOptions) if f.name in values})
    except ValueError as error:
        raise BadInputError(Path("."), str(error)) from None


def _report(result) -> None:
    """Print the run's summary (main process only)."""
    if result.summary is None:
        return
    s = result.summary
    table = Table("epochs", "best val MSE", "best epoch", "stopped", "seconds")
    table.add_row(str(s["epochs"]), str(s["best_val_mse"]), str(s["best_epoch"]), s["stop_reason"], str(s["seconds"]))
    console.print(table)
    console.print(f"[green]model:[/green] {result.out_dir} (facexpr evaluate --model {result.out_dir} --data ...)")


@friendly_errors
def train_vae_command(
    data: Path = DATA,
    out: Path = OUT,
    arch: str = ARCH,
    beta: str = typer.Option("incremental", "--beta", help="incremental (0.001 towards 1, the thesis) or fixed (2)."),
    preset: str = PRESET,
    size: Optional[int] = SIZE,
    width: Optional[float] = WIDTH,
    latent_dim: int = LATENT,
    beta_threshold: float = typer.Option(0.02, "--beta-threshold", help="incremental: raise beta only while the training MSE is under this."),
    split: str = SPLIT,
    epochs: int = EPOCHS,
    batch_size: int = BATCH,
    lr: float = LR,
    seed: int = SEED,
    patience: int = PATIENCE,
    departure: float = DEPARTURE,
    warmup: int = WARMUP,
    augment: bool = AUGMENT,
    accelerator: str = ACCELERATOR,
    devices: str = DEVICES,
    strategy: str = STRATEGY,
    num_nodes: int = NODES,
    precision: str = PRECISION,
    checkpoint_every: int = CHECKPOINT_EVERY,
    epoch_items: int = EPOCH_ITEMS,
    ema_decay: float = EMA,
    progress: bool = PROGRESS,
) -> None:
    """Stage 1: train a beta-VAE on the neutral faces of a prepared dataset."""
    from facexpr.models.vae import VAEConfig
    from facexpr.training import BetaSchedule, train_vae

    try:
        config = VAEConfig.from_preset(preset, arch=arch, size=size, width=width, latent_dim=latent_dim)
        schedule = BetaSchedule(beta, threshold=beta_threshold)
    except ValueError as error:
        raise BadInputError(data, str(error)) from None
    options = _options(locals())
    _report(train_vae(data, out, config, schedule, options, split=split))


@friendly_errors
def train_neutralizer_command(
    data: Path = DATA,
    out: Path = OUT,
    pretrained: Optional[Path] = typer.Option(None, "--pretrained", "-p", help="Stage-1 model folder (all modes but scratch)."),
    mode: str = typer.Option("frozen-reg", "--mode", help="scratch, scratch-reg, frozen (stage-1 decoder, frozen) or frozen-reg."),
    shots: int = typer.Option(7, "--shots", "-n", min=1, help="Photos of a subject per training group."),
    reg_lambda: float = typer.Option(0.1, "--lambda", min=0.0, help="Weight of the latent regularizer |V_T - V_R|."),
    blend: bool = typer.Option(True, "--blend/--no-blend", help="Blend the decoded face into the photos with a learned mask (ours; --no-blend: the thesis' model)."),
    head: str = typer.Option("flow", "--head", help="Blending head: flow (each photo is also warped towards the neutral face) or mask (the mask only)."),
    mask_width: int = typer.Option(16, "--head-width", min=1, help="Channels of the blending head."),
    mask_penalty: float = typer.Option(1e-3, "--mask-penalty", min=0.0, help="Sparsity penalty of the blending mask."),
    ssim_weight: float = typer.Option(0.0, "--ssim-weight", min=0.0, help="Weight of 1 - SSIM per face beside the summed squared error (0: the thesis' loss)."),
    pooling: str = typer.Option("mean", "--pooling", help="How the N photos' features are combined: mean, max or mean+max."),
    init_encoder: bool = typer.Option(True, "--init-encoder/--no-init-encoder", help="frozen modes: start the encoder from stage 1's."),
    arch: str = ARCH,
    preset: str = PRESET,
    size: Optional[int] = SIZE,
    width: Optional[float] = WIDTH,
    latent_dim: int = LATENT,
    split: str = SPLIT,
    epochs: int = EPOCHS,
    batch_size: int = BATCH,
    lr: float = LR,
    seed: int = SEED,
    patience: int = PATIENCE,
    departure: float = DEPARTURE,
    warmup: int = WARMUP,
    augment: bool = AUGMENT,
    accelerator: str = ACCELERATOR,
    devices: str = DEVICES,
    strategy: str = STRATEGY,
    num_nodes: int = NODES,
    precision: str = PRECISION,
    checkpoint_every: int = CHECKPOINT_EVERY,
    epoch_items: int = EPOCH_ITEMS,
    ema_decay: float = EMA,
    progress: bool = PROGRESS,
) -> None:
    """Stage 2: train the multi-image neutralizer (with --pretrained, the architecture options come from stage 1)."""
    from facexpr.models.neutralizer import NeutralizerConfig
    from facexpr.models.vae import VAEConfig
    from facexpr.training import train_neutralizer

    try:
        vae = VAEConfig.from_preset(preset, arch=arch, size=size, width=width, latent_dim=latent_dim)
        config = NeutralizerConfig(vae=vae, mode=mode, reg_lambda=reg_lambda, pooling=pooling, blend=blend,
                                   head=head, mask_width=mask_width, mask_penalty=mask_penalty,
                                   ssim_weight=ssim_weight, max_inputs=shots, init_encoder=init_encoder)
    except ValueError as error:
        raise BadInputError(data, str(error)) from None
    options = _options(locals())
    _report(train_neutralizer(data, out, config, pretrained, options, shots=shots, split=split))
