"""Step caching: a step is reused when nothing that determines its outputs changed.

A step's key hashes its name and kind, the content of its script (or of the stand-in that runs it), its
arguments and hyperparameters as the plan gives them (plus the local substitutions: --max-rows, the
resolved pretrained model), and the content hash of every input file. A finished step of an earlier run
with the same key is copied into the new run instead of being run again. Failed steps are never reused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .artifacts import copy_tree

RECORD_FILE = "step.json"
REUSABLE = ("done", "cached")  # a cache hit needs one of these (and the same key)
# What `local run --steps` takes a step it does not run from: any finished copy of it, whatever its key.
FINISHED = (*REUSABLE, "reused")


def step_key(parts: dict[str, Any]) -> str:
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def read_record(step_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((step_dir / RECORD_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def write_record(step_dir: Path, record: dict[str, Any]) -> None:
    step_dir.mkdir(parents=True, exist_ok=True)
    tmp = step_dir / (RECORD_FILE + ".tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
    tmp.replace(step_dir / RECORD_FILE)


def _newest_first(runs_root: Path, exclude: Path | None) -> list[Path]:
    if not runs_root.is_dir():
        return []
    runs = sorted((p for p in runs_root.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True)
    return [p for p in runs if exclude is None or p.resolve() != exclude.resolve()]


def find_cached(runs_root: Path, step_name: str, key: str, exclude: Path | None = None) -> Path | None:
    """The newest earlier run's folder for ``step_name`` that finished with ``key``, if any."""
    return _newest(
        runs_root, step_name, exclude, lambda r: r.get("status") in REUSABLE and r.get("key") == key
    )


def find_finished(runs_root: Path, step_name: str, exclude: Path | None = None) -> Path | None:
    """The newest earlier run's folder for ``step_name`` that finished, whatever its key (``--steps``)."""
    return _newest(runs_root, step_name, exclude, lambda r: r.get("status") in FINISHED)


def _newest(
    runs_root: Path, step_name: str, exclude: Path | None, accept: Callable[[dict[str, Any]], bool]
) -> Path | None:
    """The newest earlier run's folder for ``step_name`` whose record ``accept`` takes."""
    for run_dir in _newest_first(runs_root, exclude):
        step_dir = run_dir / step_name
        record = read_record(step_dir)
        if record and accept(record):
            return step_dir
    return None


def reuse(source: Path, destination: Path) -> None:
    """Put a finished step's folder (its outputs, logs and reports) into the new run, hard-linked where
    possible: run folders are written once, so the two runs can share the bytes."""
    copy_tree(source, destination, skip=frozenset({RECORD_FILE, RECORD_FILE + ".tmp"}), link=True)
