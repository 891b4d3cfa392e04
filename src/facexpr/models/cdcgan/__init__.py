"""The conditional DCGAN of "Generating Facial Expressions" (issue 12): a face and a one-hot target expression in,
that person with that expression out, one generator for every target.

* :class:`CDCGANConfig` (``config.py``): generator, discriminator and loss weights; presets ``report`` (as
  published) and ``fixed`` (the default: projection discriminator that also calls the unchanged input fake,
  residual output); the FER judge's expression loss is an option.
* :class:`CDCGANModel` (``model.py``): the trained generator as a :class:`facexpr.models.FaceModel` (its
  identity-function score is measured by :mod:`facexpr.evaluation.conditional`).

Training lives in :mod:`facexpr.training.cdcgan` (``facexpr train cdcgan``).
"""

from facexpr.models.cdcgan.config import PRESETS, CDCGANConfig
from facexpr.models.cdcgan.model import CDCGANModel, build_generator

__all__ = ["PRESETS", "CDCGANConfig", "CDCGANModel", "build_generator"]
