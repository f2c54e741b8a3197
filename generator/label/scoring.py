"""Score the test split of a local run, as the endpoint would: which predictions are people to review?

The model is the one the run registered (else the registry's newest version, else the run's own
training artifact). It is served through the project's inference handler
(``pipelines/<package>/inference.py``: model_fn, input_fn, predict_fn, output_fn) when the project has
one, and its answer is read by ``deploy/payload.py``'s ``decode`` in the handler's own format, as the
endpoint's captured answers are (the deployed server may answer in another: Autopilot's container sends
CSV where the handler sends JSON). Without a handler a BlazingText model.bin is scored with fastText
directly, on the tokens the project's training lines hold (``blazingtext_format.py``, the BlazingText
writer beside preprocess.py).
"""

from __future__ import annotations

import csv
import json
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote

from ..errors import LabelingError
from ..local import cache
from ..local.registry import MODEL_FILE, latest
from ..local.runs import REGISTRY_DIR, read_run_record, registry_root, runs_root
from ..plan import PREPROCESS_STEP
from ..project_modules import import_file
from .project import LabelingProject, project_on_path

LABEL_PREFIX = "__label__"
BATCH_SIZE = 256  # texts per handler call (inference.py accepts up to 1,000 per request)
NOT_RUNS = {REGISTRY_DIR, "labeling"}

Predictor = Callable[[Sequence[str]], list[dict[str, Any]]]


@dataclass(frozen=True)
class ScoredText:
    text: str
    truth: str  # the test split's class label (not shown to reviewers)
    prediction: dict[str, Any]  # {"label", "confidence", "probabilities"}


@dataclass(frozen=True)
class ModelSource:
    artifact: Path
    description: str


# PreprocessData writes the test split as parts, test-<part>.csv; projects generated before it wrote test.csv.
TEST_SPLIT_PATTERN = "test*.csv"


def failed_at(err: BaseException, root: Path) -> str:
    """``<file>:<line>: <Type>: <message>`` at the innermost frame of ``err`` in a file under ``root``
    (the project's handler or labeling code), or just the error where none is."""
    where = ""
    frame = err.__traceback__
    while frame is not None:
        path = Path(frame.tb_frame.f_code.co_filename)
        if path.is_relative_to(root):
            where = f"{path.relative_to(root)}:{frame.tb_lineno}: "
        frame = frame.tb_next
    message = str(err).splitlines()[0] if str(err) else ""
    return f"{where}{type(err).__name__}{': ' + message if message else ''}"


def find_test_split(run_dir: Path) -> list[Path]:
    """The CSV parts (text,label) of the run's test split, in name order, as PreprocessData wrote them;
    none when the step has not finished."""
    record = cache.read_record(run_dir / PREPROCESS_STEP) or {}
    if record.get("status") not in cache.REUSABLE:
        return []
    folder = record.get("outputs", {}).get("test")
    return sorted(p for p in Path(folder).glob(TEST_SPLIT_PATTERN) if p.is_file()) if folder else []


def latest_run(project_dir: Path, run_id: str | None = None) -> Path:
    """The newest local run with a test split (or the run ``run_id``)."""
    root = runs_root(project_dir)
    if run_id is not None:
        run_dir = root / run_id
        if not find_test_split(run_dir):
            raise LabelingError(f"run {run_id} has no test split in {root} (did PreprocessData finish?)")
        return run_dir
    runs = sorted(
        (p for p in root.iterdir() if p.is_dir() and p.name not in NOT_RUNS) if root.is_dir() else [],
        key=lambda p: p.name,
        reverse=True,
    )
    for run_dir in runs:
        if find_test_split(run_dir):
            return run_dir
    raise LabelingError(f"no local run with a test split in {root}: run `sagespec local run` first")


def model_source(project: LabelingProject, run_dir: Path) -> ModelSource:
    record = read_run_record(run_dir)
    package = record.get("package")
    if package and (Path(package) / MODEL_FILE).is_file():
        return ModelSource(Path(package) / MODEL_FILE, f"model registered by run {run_dir.name}")
    newest = latest(registry_root(project.root), project.spec.model_package_group)
    if newest is not None and (newest.path / MODEL_FILE).is_file():
        return ModelSource(newest.path / MODEL_FILE, f"{newest.group} version {newest.version}")
    for step in record.get("steps", []):
        if step.get("kind") in ("training", "tuning"):
            artifact = (cache.read_record(run_dir / step["name"]) or {}).get("outputs", {}).get("model")
            if artifact and Path(artifact).is_file():
                return ModelSource(Path(artifact), f"run {run_dir.name}'s trained model (not registered)")
    raise LabelingError(f"run {run_dir.name} has no model to score with, and the local registry is empty")


def handler_predictor(handler: ModuleType, model_dir: Path, parse: Callable[[str], list]) -> Predictor:
    """Texts -> predictions through the handler's whole request path, read by the endpoint parser."""
    model = handler.model_fn(str(model_dir))

    def predict(texts: Sequence[str]) -> list[dict[str, Any]]:
        body = json.dumps({"instances": list(texts)})
        predictions = handler.predict_fn(handler.input_fn(body, "application/json"), model)
        answer = handler.output_fn(predictions, "application/json")
        # The body; a handler generated before output_fn answered the body alone gives (body, content type).
        return parse(answer[0] if isinstance(answer, tuple) else answer)

    return predict


def handler_answer_parser(project: LabelingProject) -> Callable[[str], list[dict[str, Any]]]:
    """The inference handler's answer -> one {"label", "confidence", "probabilities"} per text.

    ``labeling/review_predictions.py``'s parser reads the deployed server's answer, which is not the
    handler's where the endpoint runs a built-in container (Autopilot answers CSV): read the handler's
    JSON with ``deploy/payload.py``'s ``decode`` in the handler's format (``payload.HANDLER``), as the
    captured traffic is read. A project whose payload module predates ``HANDLER`` keeps the parser."""
    review = project.review_predictions
    payload = getattr(review, "payload", None)
    handler_format = getattr(payload, "HANDLER", None)
    if payload is None or handler_format is None:
        return review.parse_predictions

    def parse(body: str) -> list[dict[str, Any]]:
        return [
            {"label": p.label, "confidence": p.confidence, "probabilities": p.probabilities}
            for p in payload.decode(body, handler_format)
        ]

    return parse


def fasttext_predictor(model_dir: Path, tokens: Callable[[str], str]) -> Predictor:
    """Texts -> predictions from a BlazingText/fastText model.bin, every class's probability."""
    import fasttext

    path = model_dir / "model.bin"
    if not path.is_file():
        names = sorted(p.name for p in model_dir.iterdir())
        raise LabelingError(f"the model artifact holds no model.bin (it holds: {', '.join(names)})")
    model = fasttext.load_model(str(path))

    def predict(texts: Sequence[str]) -> list[dict[str, Any]]:
        out = []
        for text in texts:
            # fastText 0.9.2's high-level predict() repeats the top probability for k > 1: use f.predict.
            scored = {
                # blazingtext_format.py percent-encodes white space and '%' in BlazingText's class labels
                unquote(label.removeprefix(LABEL_PREFIX)): float(p)
                for p, label in model.f.predict(tokens(text) + "\n", -1, 0.0, "strict")
            }
            best = max(scored, key=scored.__getitem__)
            out.append({"label": best, "confidence": scored[best], "probabilities": scored})
        return out

    return predict


def blazingtext_tokenizer(project: LabelingProject, package_dir: Path) -> Callable[[str], str]:
    """Text -> the tokens BlazingText was trained on, from the project's own training-format writer."""
    writer = package_dir / "blazingtext_format.py"
    if not writer.is_file():
        raise LabelingError(
            f"{writer.relative_to(project.root)} is missing: it writes (and tokenizes) BlazingText's "
            "training lines; `sagespec update` adds it to a project generated before it existed"
        )
    return import_file(writer, "_sagespec_blazingtext_format").blazingtext_tokens


def read_test_split(parts: Sequence[Path]) -> list[tuple[str, str]]:
    """(text, label) of every row of the parts, in the order given; each part has its own header."""
    rows = []
    for path in parts:
        with path.open(newline="", encoding="utf-8") as f:
            rows += [(row["text"], row["label"]) for row in csv.DictReader(f) if row.get("text", "").strip()]
    return rows


def score_run(project: LabelingProject, run_dir: Path) -> tuple[list[ScoredText], ModelSource, str]:
    """Every text of the run's test split with its prediction; the model used; how it was served."""
    rows = read_test_split(find_test_split(run_dir))
    source = model_source(project, run_dir)
    package_dir = project.root / "pipelines" / project.spec.project.package
    handler_file = package_dir / "inference.py"
    with tempfile.TemporaryDirectory(prefix="sagespec-label-") as tmp, project_on_path(project.root):
        model_dir = Path(tmp)
        try:
            with tarfile.open(source.artifact) as tar:
                tar.extractall(model_dir, filter="data")
        except (tarfile.TarError, OSError) as err:
            raise LabelingError(f"cannot extract {source.artifact}: {err}") from None
        try:
            if handler_file.is_file():
                handler = import_file(handler_file, "_sagespec_inference_handler")
                predict = handler_predictor(handler, model_dir, handler_answer_parser(project))
                served = f"pipelines/{project.spec.project.package}/inference.py"
            elif project.spec.model.type == "blazingtext":
                predict = fasttext_predictor(model_dir, blazingtext_tokenizer(project, package_dir))
                served = "fastText (model.bin), no inference handler in the project"
            else:
                raise LabelingError(
                    f"{handler_file.relative_to(project.root)} is missing: a BERT model is scored through "
                    "the project's inference handler (deployment.enabled: true generates it)"
                )
            predictions: list[dict[str, Any]] = []
            texts = [text for text, _ in rows]
            for start in range(0, len(texts), BATCH_SIZE):
                predictions += predict(texts[start : start + BATCH_SIZE])
        except (LabelingError, ImportError):
            raise  # ours, or a library to install: the command reports those itself
        except Exception as err:  # noqa: BLE001 - the project's own code failed: where, not a traceback
            raise LabelingError(
                f"scoring the test split of run {run_dir.name} failed: {failed_at(err, project.root)}"
            ) from None
    if len(predictions) != len(rows):
        raise LabelingError(f"the model answered {len(predictions)} predictions for {len(rows)} texts")
    scored = [
        ScoredText(text, truth, prediction)
        for (text, truth), prediction in zip(rows, predictions, strict=True)
    ]
    return scored, source, served
