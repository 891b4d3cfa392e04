"""How the geometric model's refiner learns: L1 to the target photo, and to read as it does to the expression judge.

:func:`fit_refiner` trains one :class:`~facexpr.models.geometric.refiner.Refiner`
on the geometric model's own outputs for one target (warp + appearance step)
and the same person's target photos. Its loss is the mean L1 distance to the
target, optionally plus ``ssim_weight`` times kornia's SSIM loss on the luma at
half resolution (off by default: in FRL London's 5-fold CV weight 1 raised the
SSIM gain from +0.018 to +0.020, but in Yale's it cut the PSNR gain from +0.17
to +0.01 dB), plus ``judge_weight`` times the cross-entropy of the differentiable FER
judge's (:class:`~facexpr.judges.expression.ExpressionJudge`) probabilities of
the output against those of the target photo: the output should read to the
judge as the person's real target photo does, not more (maximising p(neutral)
instead made neutral photos "more neutral" than they are and pushed smiles
past their own neutral photos). It needs no expression class, so it also
teaches expressions FER does not know (Yale's sleepy, wink). The judge sees
each output flipped at random, shifted by up to 3 px and turned by up to
5 degrees, so that a change must hold under all of them to pay.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import kornia
import torch

from facexpr.io import as_channels
from facexpr.judges.expression import ExpressionJudge
from facexpr.models.geometric.refiner import Refiner

#: Pairs per step, Adam's learning rate.
BATCH, LEARNING_RATE = 16, 2e-3
#: Window (pixels, on the half-resolution luma) of the SSIM term.
SSIM_WINDOW = 11
#: Largest shift (pixels at 128 px) and turn (degrees) of the judge's jittered views.
JITTER_SHIFT, JITTER_DEGREES = 3, 5.0


def half(images: torch.Tensor) -> torch.Tensor:
    """Images (B, C, S, S) at half resolution (2 x 2 means): where the SSIM term reads the refiner's smooth change,
    five times faster than at full resolution."""
    return torch.nn.functional.avg_pool2d(images, 2)


@functools.lru_cache(maxsize=1)
def _judge() -> ExpressionJudge:
    """One expression judge per process (it reads its weights on first use)."""
    return ExpressionJudge()


def jittered(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Differentiable random views of (B, C, S, S) images: flipped left-right at random, shifted, turned."""
    flip = torch.rand(len(images), generator=generator) < 0.5
    views = torch.where(flip[:, None, None, None], images.flip(-1), images)
    shift = round(JITTER_SHIFT * images.shape[-1] / 128)
    if shift:
        dy, dx = (int(v) for v in torch.randint(-shift, shift + 1, (2,), generator=generator))
        views = torch.roll(views, (dy, dx), (-2, -1))
    angles = (torch.rand(len(images), generator=generator) - 0.5) * 2 * JITTER_DEGREES
    return kornia.geometry.transform.rotate(views, angles, padding_mode="border")


def fit_refiner(
    outputs: torch.Tensor,
    masks: torch.Tensor,
    gates: torch.Tensor,
    targets: torch.Tensor,
    steps: int,
    judge_weight: float,
    sigma: float,
    ssim_weight: float = 0.0,
    seed: int = 0,
    progress: Callable[[int, int, str], None] | None = None,
) -> Refiner:
    """A refiner trained on the model's ``outputs`` (n, C, S, S), their face ``masks`` (n, 1, S, S), the share
    of the refiner each gets at use (``gates``, n; :func:`~facexpr.models.geometric.model.expression_gate`) and the
    ``targets`` (n, C, S, S), with the SSIM and judge terms weighted by ``ssim_weight`` and ``judge_weight`` (see
    the module docstring). Seeded: the same data and seed give the same refiner,
    up to floating-point order."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    refiner = Refiner(sigma)
    optimizer = torch.optim.Adam(refiner.parameters(), lr=LEARNING_RATE)
    if ssim_weight > 0:
        target_luma = half(as_channels(targets, 1))
    if judge_weight > 0:
        with torch.no_grad():
            target_probabilities = _judge().probabilities_tensor(targets)
    for step in range(steps):
        batch = torch.randint(0, len(outputs), (min(BATCH, len(outputs)),), generator=generator)
        refined = refiner(outputs[batch], masks[batch], gates[batch])
        loss = (refined - targets[batch]).abs().mean()
        if ssim_weight > 0:
            loss = loss + ssim_weight * kornia.losses.ssim_loss(half(as_channels(refined, 1)), target_luma[batch],
                                                                SSIM_WINDOW)
        if judge_weight > 0:
            read = _judge().probabilities_tensor(jittered(refined, generator))
            loss = loss - judge_weight * (target_probabilities[batch] * torch.log(read + 1e-6)).sum(1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if progress and (step + 1) % 50 == 0:
            progress(step + 1, steps, "refiner")
    return refiner.eval().requires_grad_(False)
