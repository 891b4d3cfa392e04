"""Shared test fixtures: the real-face folders in ../shared/data (skipped when absent), and a killed run."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def _shared(name: str) -> Path:
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"real-face data {folder} is not present (it lives in ../shared/data beside the repository)")
    return folder


@pytest.fixture(scope="session")
def frl_london() -> Path:
    """The Face Research Lab London subset: neutral_front/NNN_03.jpg and smiling_front/NNN_08.jpg."""
    return _shared("frl_london")


@pytest.fixture(scope="session")
def yalefaces() -> Path:
    """The Yale Face Database: subjectNN.<label>, GIF without extension."""
    return _shared("yalefaces")


class Interrupt(L.Callback):
    """Raises KeyboardInterrupt once the trainer has taken ``at_step`` optimizer steps: a run killed mid-epoch."""

    def __init__(self, at_step: int):
        self.at_step = at_step

    def on_train_batch_end(self, trainer, *args) -> None:
        """Stop the run like Ctrl-C at the chosen step."""
        if trainer.global_step == self.at_step:
            raise KeyboardInterrupt


@pytest.fixture
def interrupt_at():
    """``interrupt_at(step)``: a Lightning callback that kills the run after that optimizer step."""
    return Interrupt
