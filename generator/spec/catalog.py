"""What each model type really accepts: hyperparameters, the metrics it emits, where it runs.

The spec validates against this catalog, the renderer takes defaults and metric definitions from it,
and the local runner maps the same names onto its stand-ins. One table, so they cannot disagree.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from .aws_limits import INT32_MAX

HyperparameterKind = Literal["int", "float", "bool", "str"]


@dataclass(frozen=True)
class Hyperparameter:
    name: str
    kind: HyperparameterKind
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = ()
    help: str = ""

    def describe(self) -> str:
        """What values are allowed, in words, for error messages."""
        if self.kind == "bool":
            return "true or false"
        if self.choices:
            return "one of " + ", ".join(self.choices)
        low = (
            ""
            if self.minimum is None
            else f"{'>' if self.exclusive_minimum else '>='} {self._text(self.minimum)}"
        )
        high = "" if self.maximum is None else f"<= {self._text(self.maximum)}"
        bounds = " and ".join(b for b in (low, high) if b)
        noun = "an integer" if self.kind == "int" else "a number"
        return f"{noun} {bounds}".strip()

    def _text(self, bound: float) -> str:
        return f"{int(bound):,}" if self.kind == "int" and bound >= 10_000 else f"{bound:g}"

    def check(self, value: Any) -> str | None:
        """Return a problem with ``value``, or None when it is acceptable."""
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"must be {self.describe()}, got {value!r}"
        if self.kind == "str":
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                return f"must be {self.describe()}, got {value!r}"
            return None
        numeric_ok = isinstance(value, int | float) and not isinstance(value, bool)
        if self.kind == "int" and not (isinstance(value, int) and not isinstance(value, bool)):
            return f"must be {self.describe()}, got {value!r}"
        if not numeric_ok:
            return f"must be {self.describe()}, got {value!r}"
        # Written as "not within" so that NaN, for which every comparison is false, is never accepted.
        above_minimum = self.minimum is None or (
            value > self.minimum if self.exclusive_minimum else value >= self.minimum
        )
        below_maximum = self.maximum is None or value <= self.maximum
        finite = not isinstance(value, float) or math.isfinite(value)
        within = above_minimum and below_maximum and finite
        return None if within else f"must be {self.describe()}, got {value!r}"


@dataclass(frozen=True)
class Metric:
    """A metric a training job emits; ``regex`` is the SageMaker metric definition for script modes."""

    name: str
    direction: Literal["Maximize", "Minimize"]
    regex: str | None = None
    per_epoch: bool = False


@dataclass(frozen=True)
class Algorithm:
    type: str
    display_name: str
    hyperparameters: dict[str, Hyperparameter]
    metrics: dict[str, Metric]
    # Hyperparameters the spec may not set because the generated code owns them.
    reserved: frozenset[str] = field(default_factory=frozenset)

    def defaults(self) -> dict[str, Any]:
        return {name: hp.default for name, hp in self.hyperparameters.items()}


def hyperparameter_text(value: object) -> str:
    """A hyperparameter value as the job receives it: SageMaker passes every value as a string (what
    the pipeline definition carries: floats as ``repr`` gives them, ``2.0`` stays ``'2.0'``), booleans
    the way the scripts parse them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _hps(*items: Hyperparameter) -> dict[str, Hyperparameter]:
    return {hp.name: hp for hp in items}


# BlazingText in supervised (text classification) mode, as documented in the SageMaker Developer Guide
# ("BlazingText Hyperparameters", "Text Classification Hyperparameters"). min_char/max_char, subwords,
# window_size and the like belong to Word2Vec mode only.
BLAZINGTEXT = Algorithm(
    type="blazingtext",
    display_name="SageMaker BlazingText (supervised)",
    hyperparameters=_hps(
        Hyperparameter("epochs", "int", 5, minimum=1, maximum=1000, help="complete passes over the data"),
        Hyperparameter("learning_rate", "float", 0.05, minimum=0, exclusive_minimum=True, maximum=10),
        Hyperparameter("word_ngrams", "int", 2, minimum=1, maximum=10, help="word n-gram features"),
        Hyperparameter("vector_dim", "int", 100, minimum=1, maximum=1000, help="embedding size"),
        Hyperparameter(
            "min_count", "int", 5, minimum=0, maximum=INT32_MAX, help="words rarer than this are dropped"
        ),
        # Integers without a documented maximum are C++ ints (32-bit) in BlazingText and fastText.
        Hyperparameter(
            "buckets", "int", 2_000_000, minimum=1, maximum=INT32_MAX, help="hash buckets for word n-grams"
        ),
        Hyperparameter("early_stopping", "bool", False, help="stop when validation accuracy stalls"),
        # At most as many epochs as a job may train.
        Hyperparameter(
            "patience", "int", 4, minimum=1, maximum=1000, help="epochs without improvement before stopping"
        ),
        Hyperparameter(
            "min_epochs", "int", 5, minimum=1, maximum=1000, help="epochs before early stopping may act"
        ),
    ),
    metrics={
        "validation:accuracy": Metric("validation:accuracy", "Maximize"),
    },
    reserved=frozenset({"mode"}),
)

# A metric's value as SageMaker's metric definitions capture it (the local runner reads job logs with
# the same pattern, so both read the same numbers).
METRIC_VALUE_PATTERN = r"([0-9.eE+-]+|nan|inf)"

# The hyperparameters of the generated BERT training scripts (pipelines/<pkg>/train.py, TensorFlow or
# PyTorch). Each prints one line per epoch; the regexes below are the metric definitions that parse it.
_BERT_HYPERPARAMETERS = (
    Hyperparameter("epochs", "int", 3, minimum=1, maximum=100),
    Hyperparameter("learning_rate", "float", 3e-5, minimum=0, exclusive_minimum=True, maximum=1),
    Hyperparameter("batch_size", "int", 32, minimum=1, maximum=4096, help="per device"),
    Hyperparameter("max_seq_length", "int", 128, minimum=8, maximum=512),
    Hyperparameter("warmup_ratio", "float", 0.1, minimum=0, maximum=0.5),
    Hyperparameter("weight_decay", "float", 0.01, minimum=0, maximum=1),
    Hyperparameter(
        "early_stopping_patience", "int", 0, minimum=0, maximum=100, help="0 turns early stopping off"
    ),
    Hyperparameter("freeze_encoder", "bool", False, help="train only the classification head"),
    # TensorFlow and NumPy take 32-bit seeds.
    Hyperparameter("seed", "int", 42, minimum=0, maximum=INT32_MAX),
)
_BERT_METRICS = {
    name: Metric(name, direction, regex=rf"{re.escape(name)}={METRIC_VALUE_PATTERN}", per_epoch=True)
    for name, direction in (
        ("train:loss", "Minimize"),
        ("train:accuracy", "Maximize"),
        ("validation:loss", "Minimize"),
        ("validation:accuracy", "Maximize"),
    )
}
BERT = Algorithm(
    type="bert",
    display_name="Hugging Face BERT family, fine-tuned with TensorFlow",
    hyperparameters=_hps(*_BERT_HYPERPARAMETERS),
    metrics=_BERT_METRICS,
)
BERT_PYTORCH = Algorithm(
    type="bert",
    display_name="Hugging Face BERT family, fine-tuned with PyTorch (model.framework: pytorch)",
    hyperparameters=_hps(
        *_BERT_HYPERPARAMETERS,
        Hyperparameter(
            "gradient_accumulation_steps",
            "int",
            1,
            minimum=1,
            maximum=1024,
            help="batches per optimizer step",
        ),
        Hyperparameter(
            "dropout", "float", 0.1, minimum=0, maximum=0.9, help="before the classification layer"
        ),
    ),
    metrics=_BERT_METRICS,
)

# SageMaker Autopilot takes no hyperparameters: the spec's AutoML settings (model.max_candidates,
# objective, mode and time limits) are its job's configuration. Its best candidate's validation score
# on the spec's objective is what the job reports (and what the local stand-in prints).
AUTOPILOT = Algorithm(
    type="autopilot",
    display_name="SageMaker Autopilot (AutoML)",
    hyperparameters={},
    metrics={"validation:objective": Metric("validation:objective", "Maximize")},
)

# Every catalog entry, by type (and framework where a type has several).
ALGORITHMS: dict[str, Algorithm] = {
    "blazingtext": BLAZINGTEXT,
    "bert": BERT,
    "bert/pytorch": BERT_PYTORCH,
    "autopilot": AUTOPILOT,
}


def model_kind(model: Any) -> str:
    """A spec's model as a key of ALGORITHMS: its type, and for BERT its framework."""
    if model.type == "bert" and model.framework == "pytorch":
        return "bert/pytorch"
    return str(model.type)


def algorithm_for(model: Any) -> Algorithm:
    """The catalog entry of a spec's model."""
    return ALGORITHMS[model_kind(model)]


# SageMaker instance families with NVIDIA GPUs (training). Anything else is CPU (or Trainium/Inferentia,
# which the TensorFlow image does not support for this script).
GPU_FAMILIES = frozenset({"p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "p6", "g4dn", "g5", "g6", "g6e"})
INSTANCE_TYPE_PATTERN = re.compile(r"^ml\.[a-z][a-z0-9-]*\.[0-9]*(nano|micro|small|medium|large|xlarge)$")


def instance_family(instance_type: str) -> str:
    return instance_type.split(".")[1] if instance_type.count(".") >= 2 else ""


def is_gpu_instance(instance_type: str) -> bool:
    return instance_family(instance_type) in GPU_FAMILIES
