"""Shared test fixtures: the real-face folders in ../shared/data (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

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
