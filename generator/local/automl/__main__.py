"""``python -m sagespec.local.automl``: the AutoML job under the training contract.

Reads the AutoML settings (hyperparameters.json) and the text,label CSV parts of the ``train`` and
``validation`` channels, runs the search, copies the best candidate into SM_MODEL_DIR and writes the
leaderboard into SM_OUTPUT_DATA_DIR. Bad settings or data end with exit status 2 (a ClientError).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from .leaderboard import write_leaderboard
from .search import Data, Settings, search

EXIT_CLIENT_ERROR = 2


class ClientError(Exception):
    """Bad settings or data: the job fails with exit status 2."""


def read_channel(channel: str | None, name: str) -> Data:
    """The texts and labels of a channel's CSV parts (header text,label), in file-name order."""
    import pandas as pd

    files = sorted(Path(channel).rglob("*.csv")) if channel else []
    if not files:
        raise ClientError(f"the {name} channel holds no CSV files")
    frames = [pd.read_csv(path, dtype=str, keep_default_na=False) for path in files]
    data = pd.concat(frames, ignore_index=True)
    missing = {"text", "label"} - set(data.columns)
    if missing:
        raise ClientError(f"the {name} channel's CSV files lack the column(s) {', '.join(sorted(missing))}")
    if data.empty:
        raise ClientError(f"the {name} channel has no examples")
    return data["text"].tolist(), data["label"].tolist()


def _hyperparameters() -> dict[str, Any]:
    config = Path(os.environ.get("SM_INPUT_CONFIG_DIR", "/opt/ml/input/config")) / "hyperparameters.json"
    return json.loads(config.read_text()) if config.is_file() else json.loads(os.environ.get("SM_HPS", "{}"))


def main() -> int:
    try:
        try:
            settings = Settings.from_hyperparameters(_hyperparameters())
        except (KeyError, ValueError) as err:
            raise ClientError(f"bad AutoML settings: {err}") from None
        train = read_channel(os.environ.get("SM_CHANNEL_TRAIN"), "train")
        valid = read_channel(os.environ.get("SM_CHANNEL_VALIDATION"), "validation")
        if len(set(train[1])) < 2:
            raise ClientError("the train channel holds fewer than 2 classes")
        print(
            f"AutoML: up to {settings.max_candidates} candidates, objective {settings.objective}, "
            f"{len(train[0])} train and {len(valid[0])} validation examples",
            flush=True,
        )
        model_dir = Path(os.environ["SM_MODEL_DIR"])
        output_dir = Path(os.environ.get("SM_OUTPUT_DATA_DIR", model_dir.parent / "output" / "data"))
        with tempfile.TemporaryDirectory(prefix="automl-") as scratch:
            result = search(settings, train, valid, Path(scratch), say=lambda line: print(line, flush=True))
            best = result.best
            if best is None or best.folder is None:
                raise ClientError("no candidate finished within the time limits")
            model_dir.mkdir(parents=True, exist_ok=True)
            for path in best.folder.iterdir():
                shutil.copy2(path, model_dir / path.name)
        written = write_leaderboard(result, output_dir)
        print(f"best candidate: {best.name} ({best.family}) {settings.objective}={best.score:.4f}")
        print(f"validation:objective={best.score:.6f}")
        print(f"wrote {', '.join(p.name for p in written)} to {output_dir}")
    except ClientError as err:
        print(f"ClientError: {err}", file=sys.stderr)
        return EXIT_CLIENT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
