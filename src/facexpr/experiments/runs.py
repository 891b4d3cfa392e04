"""What every experiment run folder shares: the settings it was made with (``experiment.json``), checked before
a rerun resumes it, and its training summary once finished."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from facexpr.io import BadInputError, write_text_atomic
from facexpr.training import SUMMARY_FILE

SPEC_FILE = "experiment.json"


def claim_run(folder: Path, spec: dict[str, Any]) -> None:
    """Record ``spec`` in a new run folder, or check that an existing one was made with the same settings.

    Raises:
        BadInputError: the folder is not a run of these experiments, or holds one with other settings.
    """
    path = folder / SPEC_FILE
    if not path.is_file():
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise BadInputError(folder, f"exists but is not a run of facexpr experiments (no {SPEC_FILE}); choose another --out")
        write_text_atomic(path, json.dumps(spec, indent=2))
        return
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BadInputError(path, f"unreadable ({error})") from None
    wanted = json.loads(json.dumps(spec))
    differ = sorted(k for k in {*recorded, *wanted} if recorded.get(k) != wanted.get(k))
    if differ:
        detail = "; ".join(f"{k}: {recorded.get(k)!r} there, {wanted.get(k)!r} now" for k in differ)
        raise BadInputError(folder, f"holds a run with other settings ({detail}); rerun with the same settings "
                                    "or choose another --out")


def read_summary(folder: Path) -> dict[str, Any] | None:
    """The finished run's ``summary.json``, or None while it is unfinished.

    Raises:
        BadInputError: the file exists but is not JSON.
    """
    path = folder / SUMMARY_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BadInputError(path, f"unreadable training summary ({error})") from None
