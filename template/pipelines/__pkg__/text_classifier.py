"""The model train.py fine-tunes: a pretrained encoder, the pooling its checkpoint was trained with, dropout
and one linear layer.

A sentence-transformers checkpoint says how it pools in 1_Pooling/config.json (mean pooling for
all-MiniLM-L6-v2; see checkpoint_pooling.py); any other checkpoint pools with its [CLS] token.
inference.py computes the same from train.py's export (it travels alone in model.tar.gz, so it has its
own few lines for it).
"""

from __future__ import annotations

import inspect
import logging
import re
from typing import Any

import torch
from checkpoint_pooling import checkpoint_pooling
from torch import nn
from transformers import AutoConfig, AutoModel
from transformers.models.auto.modeling_auto import MODEL_MAPPING


class TextClassifier(nn.Module):
    """Encoder -> pooled text vector -> dropout -> linear layer; float32 logits under autocast too."""

    def __init__(self, encoder: nn.Module, num_classes: int, pooling: str, dropout: float) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(encoder.config.hidden_size, num_classes)
        nn.init.normal_(self.classifier.weight, std=encoder.config.initializer_range)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.pooling == "mean":
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        else:
            pooled = hidden[:, 0]
        return self.classifier(self.dropout(pooled)).float()


class UnusedPoolerFilter(logging.Filter):
    """Drops transformers' warning that the checkpoint's pooler weights went unused ("This IS NOT expected
    if ..."): they are left out on purpose. A warning about any other unused weight still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        unused = re.search(r"were not used when initializing \w+: \[([^\]]*)\]", record.getMessage())
        return unused is None or not all("pooler" in key for key in unused.group(1).split(","))


def without_pooler(config: Any) -> dict[str, Any]:
    """AutoModel's option that leaves the pooler out, where the architecture has one (BERT, RoBERTa,
    MPNet, ...); DistilBERT and others have none and take no such option."""
    model_class = MODEL_MAPPING.get(type(config), None)
    parameters = inspect.signature(model_class.__init__).parameters if model_class is not None else {}
    return {"add_pooling_layer": False} if "add_pooling_layer" in parameters else {}


def load_pretrained(source: str, num_classes: int, dropout: float) -> TextClassifier:
    """The classifier around the pretrained encoder ``source`` (a hub name or a folder), its head new.

    Raises OSError or ValueError when ``source`` cannot be loaded.
    """
    loading_logger = logging.getLogger("transformers.modeling_utils")
    quiet = UnusedPoolerFilter()
    loading_logger.addFilter(quiet)
    try:
        config = AutoConfig.from_pretrained(source)
        # No pooler layer: the classifier pools itself, and a checkpoint's pooler may be untrained.
        encoder = AutoModel.from_pretrained(source, config=config, **without_pooler(config))
    finally:
        loading_logger.removeFilter(quiet)
    # float32 master weights whatever dtype the checkpoint was saved in; autocast does the half precision.
    return TextClassifier(encoder.float(), num_classes, checkpoint_pooling(source), dropout)
