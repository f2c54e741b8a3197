"""How a pretrained checkpoint pools a text into one vector, which train.py's classifier then does too.

A sentence-transformers checkpoint says so in 1_Pooling/config.json (all-MiniLM-L6-v2: the mean of its
tokens' vectors, padding left out); any other checkpoint pools with its [CLS] token. Both frameworks'
classifiers (keras_classifier.py, text_classifier.py) read it here; train.py records the answer in
labels.json, which is where inference.py reads it.
"""

from __future__ import annotations

import json
from pathlib import Path


def checkpoint_pooling(source: str) -> str:
    """ "mean" for a sentence-transformers checkpoint trained with mean pooling, else "cls".

    ``source`` is a folder or a hub name (looked up on the hub, unless offline or not found there).
    """
    path = Path(source) / "1_Pooling" / "config.json"
    if not path.is_file():
        try:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(source, "1_Pooling/config.json"))
        except Exception:  # noqa: BLE001 - not on the hub, not a sentence-transformers model, or offline
            return "cls"
    config = json.loads(path.read_text(encoding="utf-8"))
    return "mean" if config.get("pooling_mode_mean_tokens") else "cls"
