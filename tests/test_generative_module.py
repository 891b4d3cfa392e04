"""The one LightningModule: weighted named losses, several players stepped in turn (adversarial), data modules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from facexpr.data.pairing import PreparedDataset
from facexpr.data.prepare import PrepareOptions, prepare_dataset
from facexpr.data.synthetic import generate_dataset
from facexpr.io import BadInputError
from facexpr.models.base import FaceModel
from facexpr.nn import PatchGAN, UNet
from facexpr.training import (
    ConditionalDataModule,
    GenerativeModule,
    LabelledDataModule,
    NeutralDataModule,
    NShotDataModule,
    PairedDataModule,
    TrainingMethod,
    TrainOptions,
    run_training,
)
from facexpr.training.module import weighted_sum


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    """Two prepared folders of synthetic people (10 and 4), neutral / happy / surprise, 32 px crops."""
    root = tmp_path_factory.mktemp("generative")
    for name, subjects, seed, ratios in (("a", 10, 5, (0.6, 0.4, 0.0)), ("b", 4, 6, (1.0, 0.0, 0.0))):
        generate_dataset(root / f"raw_{name}", n_subjects=subjects, expressions=("neutral", "happy", "surprise"),
                         size=96, seed=seed)
        prepare_dataset(root / f"raw_{name}", root / name, PrepareOptions(size=32, split_ratios=ratios))
    return root / "a", root / "b"


class UNetModel(FaceModel):
    """The toy generator as a FaceModel (what the module exports)."""

    family = "toy-unet"

    def __init__(self, net: UNet):
        super().__init__(32, 3)
        self.net = net.eval()

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, target: str | None = None, strength: float = 1.0) -> torch.Tensor:
        return self.net(inputs[:, 0]).clamp(0, 1)

    def tensors(self) -> dict[str, torch.Tensor]:
        return dict(self.net.state_dict())

    @classmethod
    def from_saved(cls, config, tensors):  # pragma: no cover - not loaded in these tests
        raise NotImplementedError


class AdversarialNeutralizer(TrainingMethod):
    """pix2pix in miniature: a residual U-Net (expressive -> neutral) against a PatchGAN on (input, output)."""

    players = ("discriminator", "generator")

    def __init__(self):
        super().__init__(size=32)
        self.net = UNet(3, depth=2, width=8, output="residual")
        self.critic = PatchGAN(6, width=8, n_layers=2)

    @property
    def generator(self) -> nn.Module:
        return self.net

    def images(self, batch):
        return batch["input"], batch["target"]

    def with_images(self, batch, images):
        return {**batch, "input": images[0], "target": images[1]}

    def run(self, batch):
        return {"input": batch["input"], "output": self.net(batch["input"]), "target": batch["target"]}

    def losses(self, player, outputs):
        real = self.critic(torch.cat([outputs["input"], outputs["target"]], 1))
        if player == "discriminator":
            fake = self.critic(torch.cat([outputs["input"], outputs["output"].detach()], 1))
            return {"real": F.binary_cross_entropy_with_logits(real, torch.ones_like(real)),
                    "fake": F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))}
        fooled = self.critic(torch.cat([outputs["input"], outputs["output"]], 1))
        return {"l1": (outputs["output"] - outputs["target"]).abs().mean(),
                "adversarial": F.binary_cross_entropy_with_logits(fooled, torch.ones_like(fooled)),
                "critic_real": torch.sigmoid(real).mean().detach()}

    def parameters_of(self, player):
        return (self.critic if player == "discriminator" else self.net).parameters()

    def export(self) -> FaceModel:
        return UNetModel(self.net)


def test_weighted_sum_uses_weighted_terms_only_and_refuses_none():
    terms = {"a": torch.tensor(2.0), "b": torch.tensor(3.0), "diagnostic": torch.tensor(100.0)}
    assert float(weighted_sum(terms, {"a": 1.0, "b": 0.5})) == pytest.approx(3.5)
    with pytest.raises(ValueError, match="no weighted loss"):
        weighted_sum(terms, {"other": 1.0})


def test_an_adversarial_method_trains_both_players_and_beats_identity(folders, tmp_path):
    """Two optimizers step in turn; every term is logged; the generator beats returning the input (held out)."""
    torch.manual_seed(0)
    data = PairedDataModule(folders[0], batch_size=8, min_epoch_items=96)
    method = AdversarialNeutralizer()
    critic_before = [p.detach().clone() for p in method.critic.parameters()]
    module = GenerativeModule(method, {"real": 0.5, "fake": 0.5, "l1": 100.0, "adversarial": 1.0}, lr=3e-3,
                              augment=False, betas=(0.5, 0.999))
    options = TrainOptions(epochs=6, batch_size=8, progress=False, logs=False, patience=50, departure=0.0)
    result = run_training(module, data, tmp_path / "gan", options, describe=data.describe())
    assert len(module.optimizers()) == 2
    assert any(not torch.equal(a, b) for a, b in zip(critic_before, method.critic.parameters()))
    final = result.summary["final"]
    for name in ("train/l1", "train/adversarial", "train/critic_real", "train/discriminator_real",
                 "train/discriminator_fake", "train/discriminator_loss", "val/l1", "val_mse"):
        assert name in final, name
    val = [data.val_set[i] for i in range(len(data.val_set))]
    inputs = torch.stack([item["input"] for item in val])
    targets = torch.stack([item["target"] for item in val])
    learned = float((result.model.predict(inputs.unsqueeze(1)) - targets).pow(2).mean())
    identity = float((inputs - targets).pow(2).mean())
    assert learned < 0.9 * identity, (learned, identity)  # 0.79 when written
    assert json.loads((tmp_path / "gan" / "summary.json").read_text())["supervision"] == "paired"


def test_data_modules_mix_folders_per_supervision(folders):
    """Each kind of supervision concatenates the folders' items; a folder without a val split validates on
    its training split."""
    first, second = (PreparedDataset(f, cache_size=None) for f in folders)
    neutral = NeutralDataModule([first, second])
    assert neutral.val_splits == ["val", "train"] and neutral.channels == 3
    assert len(neutral.train_set) == 6 + 4 and neutral.describe()["data"] == [str(first.root), str(second.root)]
    paired = PairedDataModule([first, second], target_expression="happy")
    item = paired.train_set[0]
    assert set(item) >= {"input", "target"} and item["expression"] == "neutral"
    nshot = NShotDataModule([first, second], shots=2, batch_size=4)
    assert next(iter(nshot.train_dataloader()))["inputs"].shape[1:] == (2, 3, 32, 32)
    labelled = LabelledDataModule([first, second])
    assert labelled.classes == ("neutral", "happy", "surprise")
    labels = [labelled.train_set[i]["label"] for i in range(len(labelled.train_set))]
    assert sorted(set(labels)) == [0, 1, 2] and len(labels) == 3 * (6 + 4)


def test_a_folder_without_that_supervision_is_named(folders, tmp_path):
    with pytest.raises(BadInputError, match=r"b/manifest.csv: no pairs.*split 'val'"):
        PairedDataModule(folders, split="val")  # the second folder has no val split
    with pytest.raises(ValueError, match="no prepared dataset"):
        NeutralDataModule([])


def test_steps_per_batch_repeats_every_players_step_on_one_batch(folders, tmp_path):
    """``steps_per_batch=3`` with two players: 6 optimizer steps per batch (Lightning counts each step);
    ``optimizer="sgd"`` gives every player SGD with the momentum asked for."""
    torch.manual_seed(0)
    data = PairedDataModule(folders[0], batch_size=8)
    batches = len(data.train_dataloader())
    module = GenerativeModule(AdversarialNeutralizer(), {"real": 0.5, "fake": 0.5, "l1": 100.0, "adversarial": 1.0},
                              lr=1e-3, augment=False, optimizer="sgd", momentum=0.95, steps_per_batch=3)
    options = TrainOptions(epochs=1, batch_size=8, progress=False, logs=False, min_epoch_items=0)
    result = run_training(module, data, tmp_path / "k", options)
    assert result.summary["global_step"] == 2 * 3 * batches
    assert all(isinstance(o.optimizer, torch.optim.SGD) and o.optimizer.defaults["momentum"] == 0.95
               for o in module.optimizers())
    with pytest.raises(ValueError, match="steps_per_batch"):
        GenerativeModule(AdversarialNeutralizer(), {"l1": 1.0}, steps_per_batch=0)


def test_conditional_pairs_name_their_target_and_cover_every_other_expression(folders):
    """One model for every target: each crop goes with the person's crop of each other expression."""
    data = ConditionalDataModule(folders[0])
    assert data.classes == ("neutral", "happy", "surprise")
    items = [data.train_set[i] for i in range(len(data.train_set))]
    assert len(items) == 6 * 3 * 2  # 6 people, 3 crops each, 2 other expressions per crop
    for item in items[:12]:
        assert item["label"] != item["source_label"] and item["names"][0] != item["names"][1]
    assert {(i["source_label"], i["label"]) for i in items} == {(a, b) for a in range(3) for b in range(3) if a != b}
