"""Inference handler: the model server calls model_fn once, then input_fn -> predict_fn -> output_fn.

The four functions follow the convention of SageMaker's inference toolkits. ``sagespec local serve``
(``make serve``) loads this file and serves every variant of the endpoint through it, so a request
behaves the same on a laptop as in a model server that uses the same handler.

Requests
    application/json   {"instances": ["text", ...]}, or {"inputs": "text"} / {"inputs": ["text", ...]}
    text/csv           one text per line, no header (quote a line that holds commas or quotes)
Response (application/json)
    {"predictions": [{"label": "<class>", "probabilities": {"<class>": p, ...}}, ...]}

Model artifacts (model.tar.gz, unpacked into ``model_dir``):
    BlazingText   model.bin, fastText-compatible. On SageMaker the BlazingText image serves model.bin
                  itself and ignores this file: it takes the same {"instances": [...]} JSON, expects
                  the texts already tokenized, and answers [{"label": [...], "prob": [...]}, ...].
    BERT (TF)     train.py's export: tokenizer.json, labels.json, saved_model/1/ and code/, which holds
                  a copy of this file and, in code/lib/, the `tokenizers` package.
    Autopilot     locally, the AutoML search's best candidate: model.joblib (a scikit-learn pipeline from
                  text to class, loaded with joblib: load only artifacts you trust, as for any pickle)
                  or a fastText model.bin. On SageMaker, Autopilot's own inference container serves the
                  best candidate and this file is not used.
    BERT (torch)  train.py's export: tokenizer.json, labels.json (classes, max_seq_length, pad_token_id,
                  pooling), the encoder (config.json, model.safetensors), the linear head
                  (classifier.safetensors, which tells this export from TensorFlow's) and code/, which
                  holds a copy of this file.

BERT with PyTorch on SageMaker: the PyTorch inference image imports code/inference.py and calls the four
functions below, which run the model on the instance's GPU if it has one, else on the CPU. They need
torch, transformers, safetensors and tokenizers, and read nothing but the artifact (never the model hub),
so the endpoint runs with network isolation wherever those packages are installed.

BERT with TensorFlow on SageMaker: the TensorFlow Serving image serves saved_model/1/, which takes token
ids, not text. Because code/inference.py is in the artifact, the image runs its Python front end, which puts
code/ and code/lib/ on sys.path and calls input_handler (text -> token ids, as a TF Serving REST request) and
output_handler (TF Serving's answer -> labels and probabilities) around each TF Serving call. The
handlers need nothing beyond the standard library and `tokenizers`, so the endpoint runs with network
isolation: the image never pip-installs anything.

Texts are normalised the way preprocess.py prepared the training data (tests/test_deploy.py checks
that the two agree). A bad request raises ValueError (the server answers 400); an unsupported content
type raises UnsupportedContentType (415).
"""

# No `from __future__ import annotations` here: SageMaker's TensorFlow Serving front end imports this file
# by path without entering it in sys.modules, and dataclasses cannot resolve string annotations then.
import contextlib
import csv
import functools
import html
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

JSON = "application/json"
CSV = "text/csv"
LABEL_PREFIX = "__label__"  # fastText / BlazingText label marker
BATCH_SIZE = 32  # texts per forward pass of the BERT model (in-process serving)
MAX_INSTANCES = 1000  # texts per request
TOKENIZER_FILE = "tokenizer.json"  # the fast tokenizer, readable by `tokenizers` alone
SKLEARN_FILE = "model.joblib"  # an AutoML candidate: a scikit-learn pipeline from text to class
PYTORCH_HEAD_FILE = "classifier.safetensors"  # the classification head of a PyTorch export
SIGNATURE = "serving_default"  # train.py's SavedModel signature
DEFAULT_MAX_POSITIONS = 512  # BERT's position limit when config.json does not say

# A word (keeping inner apostrophes: "don't", "it's") or a single punctuation character.
_TOKEN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")


class UnsupportedContentType(ValueError):
    """The request's Content-Type or Accept is not one this handler speaks."""


@dataclass(frozen=True)
class TextEncoder:
    """Texts -> the padded token ids and attention mask a BERT export takes, tokenized as in training.

    Uses `tokenizers` (the library under transformers' fast tokenizers) on the export's tokenizer.json,
    so serving needs neither transformers nor TensorFlow in the Python process.
    """

    tokenizer: Any  # tokenizers.Tokenizer
    pad_token_id: int

    @classmethod
    def load(cls, model_dir: Path) -> "TextEncoder":
        from tokenizers import Tokenizer

        labels = _read_json(model_dir / "labels.json")
        config = _read_json(model_dir / "config.json") if (model_dir / "config.json").is_file() else {}
        # Truncate where training did, and never past the model's position embeddings.
        limit = config.get("max_position_embeddings") or DEFAULT_MAX_POSITIONS
        tokenizer = Tokenizer.from_file(str(model_dir / TOKENIZER_FILE))
        tokenizer.no_padding()  # padded here, to the longest text of each batch
        tokenizer.enable_truncation(min(labels.get("max_seq_length") or limit, limit))
        return cls(tokenizer, int(labels.get("pad_token_id") or 0))

    def encode(self, texts: list[str]) -> tuple[list[list[int]], list[list[int]]]:
        encodings = self.tokenizer.encode_batch([clean_text(text) for text in texts])
        width = max(len(encoding.ids) for encoding in encodings)
        input_ids = [e.ids + [self.pad_token_id] * (width - len(e.ids)) for e in encodings]
        attention_mask = [[1] * len(e.ids) + [0] * (width - len(e.ids)) for e in encodings]
        return input_ids, attention_mask


# A BERT model's forward pass: padded token ids and attention mask (one row per text) -> class probabilities.
Probabilities = Callable[[list[list[int]], list[list[int]]], list[list[float]]]


@dataclass
class Model:
    """A loaded artifact: ``kind`` is "blazingtext", "sklearn" (an AutoML candidate) or "bert" (either
    framework: see ``predictor``)."""

    kind: str
    classes: list[str]
    predictor: Any  # fastText's model, or Probabilities
    encoder: TextEncoder | None = None


# ---------------------------------------------------------------------------------------------- text


def clean_text(text: str) -> str:
    """Unescape HTML entities and put the text on one line (as preprocess.py does)."""
    return " ".join(html.unescape(text).split())


def blazingtext_tokens(text: str) -> str:
    """Lower-cased tokens with punctuation split off: the input BlazingText was trained on (a token that
    starts with the label marker loses its leading underscores, as in preprocess.py)."""
    tokens = _TOKEN.findall(clean_text(text).lower())
    return " ".join(t.removeprefix("__") if t.startswith(LABEL_PREFIX) else t for t in tokens)


def class_of(label: str) -> str:
    """``__label__<class>`` -> the class (blazingtext_format.py percent-encodes white space and '%' in it)."""
    return unquote(label.removeprefix(LABEL_PREFIX))


# ---------------------------------------------------------------------------------------------- handler


def model_fn(model_dir: str) -> Model:
    """Load the unpacked artifact: model.bin (BlazingText) or train.py's export (BERT, either framework)."""
    directory = Path(model_dir)
    if (directory / "model.bin").is_file():
        import fasttext

        with contextlib.redirect_stderr(io.StringIO()):  # fastText warns about its own API change
            predictor = fasttext.load_model(str(directory / "model.bin"))
        classes = [class_of(label) for label in predictor.get_labels()]
        return Model("blazingtext", classes, predictor)
    if (directory / SKLEARN_FILE).is_file():
        import joblib

        pipeline = joblib.load(directory / SKLEARN_FILE)
        return Model("sklearn", [str(c) for c in pipeline.classes_], pipeline)
    if (directory / "labels.json").is_file() and (directory / TOKENIZER_FILE).is_file():
        if (directory / PYTORCH_HEAD_FILE).is_file():
            probabilities = _pytorch_probabilities(directory)
        else:
            probabilities = _tensorflow_probabilities(directory)
        return Model("bert", _classes(directory), probabilities, TextEncoder.load(directory))
    raise ValueError(
        f"{directory} holds neither model.bin (BlazingText), {SKLEARN_FILE} (AutoML) nor labels.json "
        f"and {TOKENIZER_FILE} (BERT)"
    )


def input_fn(body: bytes | str, content_type: str = JSON) -> list[str]:
    """The texts of a request."""
    mime = content_type.split(";", 1)[0].strip().lower()
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if mime == JSON:
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"the body is not valid JSON: {err}") from None
        if not isinstance(payload, dict) or not ({"instances", "inputs"} & payload.keys()):
            raise ValueError('expected {"instances": ["text", ...]} or {"inputs": "text" | [...]}')
        texts = payload["instances"] if "instances" in payload else payload["inputs"]
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise ValueError("instances/inputs must be a string or a list of strings")
    elif mime == CSV:
        # Each row is one text; an unquoted comma splits nothing, it is part of the text.
        try:
            texts = [",".join(row) for row in csv.reader(io.StringIO(text)) if row]
        except csv.Error as err:  # e.g. a field over the csv module's size limit: the request's fault
            raise ValueError(f"the body is not readable CSV: {err}") from None
    else:
        raise UnsupportedContentType(f"content type {content_type!r} is not supported; use {JSON} or {CSV}")
    if not texts:
        raise ValueError("the request holds no texts")
    if len(texts) > MAX_INSTANCES:
        raise ValueError(f"at most {MAX_INSTANCES} texts per request, got {len(texts)}")
    return texts


def predict_fn(texts: list[str], model: Model) -> list[dict[str, Any]]:
    """Each text's most probable class and the probability of every class."""
    if model.kind == "blazingtext":
        return [_predict_fasttext(model, text) for text in texts]
    if model.kind == "sklearn":
        rows = model.predictor.predict_proba([clean_text(text) for text in texts])
        return [_prediction(model.classes, list(row)) for row in rows]
    return _predict_bert(model, texts)


def output_fn(predictions: list[dict[str, Any]], accept: str = JSON) -> str:
    """The response body, always JSON.

    The body alone, not (body, content type): the Hugging Face inference toolkit (the PyTorch BERT
    endpoint's image) sends whatever output_fn returns as the body, and sets the content type itself.
    """
    mime = accept.split(";", 1)[0].strip().lower()
    if mime not in (JSON, "*/*", ""):
        raise UnsupportedContentType(f"cannot answer in {accept!r}; only {JSON}")
    return json.dumps({"predictions": predictions})


# ---------------------------------------------------------------------------------------------- TF Serving

# The SageMaker TensorFlow Serving image unpacks model.tar.gz into /opt/ml/model and imports this file
# from its code/ folder, so the artifact is this file's grandparent.
_ARTIFACT = Path(__file__).resolve().parent.parent


@functools.cache
def _served_artifact() -> tuple[list[str], TextEncoder]:
    return _classes(_ARTIFACT), TextEncoder.load(_ARTIFACT)


def input_handler(data: Any, context: Any) -> str:
    """Before TF Serving: the request's texts as a TF Serving REST predict request (columnar inputs).

    ``data`` is the request body stream; ``context`` carries request_content_type and accept_header.
    """
    texts = input_fn(data.read(), context.request_content_type)
    input_ids, attention_mask = _served_artifact()[1].encode(texts)
    return json.dumps(
        {"signature_name": SIGNATURE, "inputs": {"input_ids": input_ids, "attention_mask": attention_mask}}
    )


def output_handler(response: Any, context: Any) -> tuple[str, str]:
    """After TF Serving: its answer (a requests.Response) as labels and per-class probabilities."""
    if response.status_code != 200:
        detail = response.content.decode("utf-8", "replace")
        raise ValueError(f"TensorFlow Serving answered {response.status_code}: {detail}")
    # The signature has two outputs (logits, probabilities), so "outputs" maps each name to its rows.
    rows = json.loads(response.content)["outputs"]["probabilities"]
    classes = _served_artifact()[0]
    # TF Serving's front end takes the body and its content type.
    return output_fn([_prediction(classes, row) for row in rows], context.accept_header), JSON


# ---------------------------------------------------------------------------------------------- models


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _classes(directory: Path) -> list[str]:
    """The BERT export's classes in output order (labels.json), as strings."""
    return [str(c) for c in _read_json(directory / "labels.json")["classes"]]


def _prediction(classes: list[str], probabilities: list[float]) -> dict[str, Any]:
    best = max(range(len(classes)), key=probabilities.__getitem__)
    return {
        "label": classes[best],
        "probabilities": {c: round(float(p), 6) for c, p in zip(classes, probabilities, strict=True)},
    }


def _predict_fasttext(model: Model, text: str) -> dict[str, Any]:
    # The low-level call: fastText 0.9.2's predict() repeats the top probability for every label when
    # asked for more than one, and fails on a single string under numpy 2. k=-1: every label.
    scored = {
        class_of(label): p
        for p, label in model.predictor.f.predict(blazingtext_tokens(text) + "\n", -1, 0.0, "strict")
    }
    return _prediction(model.classes, [scored.get(c, 0.0) for c in model.classes])


def _tensorflow_probabilities(directory: Path) -> Probabilities:
    """TensorFlow's export through a graph function.

    train.py's SavedModel (saved_model/1, what TensorFlow Serving serves) when the export has one, else
    the Hugging Face model traced once for any batch and length ([CLS] pooling only: a mean-pooling
    classifier's head is in the SavedModel alone).
    """
    import tensorflow as tf

    saved_model = directory / "saved_model" / "1"
    if (saved_model / "saved_model.pb").is_file():
        signature = tf.saved_model.load(str(saved_model)).signatures[SIGNATURE]

        def graph(input_ids: tf.Tensor, attention_mask: tf.Tensor) -> tf.Tensor:
            return signature(input_ids=input_ids, attention_mask=attention_mask)["probabilities"]

    elif _read_json(directory / "labels.json").get("pooling") == "mean":
        # The head of a mean-pooling classifier is train.py's own: only its SavedModel holds it.
        raise FileNotFoundError(f"{saved_model} is missing: a mean-pooling export is served from it")
    else:
        from transformers import TFAutoModelForSequenceClassification

        model = TFAutoModelForSequenceClassification.from_pretrained(str(directory))

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)] * 2)
        def graph(input_ids: tf.Tensor, attention_mask: tf.Tensor) -> tf.Tensor:
            logits = model(input_ids=input_ids, attention_mask=attention_mask, training=False).logits
            return tf.nn.softmax(logits, axis=-1)

    def probabilities(input_ids: list[list[int]], attention_mask: list[list[int]]) -> list[list[float]]:
        rows = graph(tf.constant(input_ids, tf.int32), tf.constant(attention_mask, tf.int32))
        return rows.numpy().tolist()

    return probabilities


def _pytorch_probabilities(directory: Path) -> Probabilities:
    """PyTorch's export: the encoder, the pooling labels.json names and the linear head, as train.py's
    model (text_classifier.py's TextClassifier) computes them, without dropout (off at inference)."""
    import inspect

    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    # No pooler layer where the architecture has one (DistilBERT has none): train.py trained none, the
    # head pools itself. local_files_only: never the hub.
    config = AutoConfig.from_pretrained(str(directory), local_files_only=True)
    model_class = MODEL_MAPPING.get(type(config), None)
    parameters = inspect.signature(model_class.__init__).parameters if model_class is not None else {}
    options = {"add_pooling_layer": False} if "add_pooling_layer" in parameters else {}
    encoder = AutoModel.from_pretrained(str(directory), config=config, local_files_only=True, **options)
    weights = load_file(str(directory / PYTORCH_HEAD_FILE))
    num_classes, hidden_size = weights["weight"].shape
    head = torch.nn.Linear(hidden_size, num_classes)
    head.load_state_dict(weights)
    encoder, head = encoder.to(device).eval(), head.to(device).eval()
    mean_pooling = _read_json(directory / "labels.json").get("pooling") == "mean"

    @torch.inference_mode()
    def probabilities(input_ids: list[list[int]], attention_mask: list[list[int]]) -> list[list[float]]:
        ids = torch.tensor(input_ids, dtype=torch.long, device=device)
        mask = torch.tensor(attention_mask, dtype=torch.long, device=device)
        hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        if mean_pooling:  # the mean of the text's tokens, padding left out
            weight = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weight).sum(1) / weight.sum(1).clamp(min=1)
        else:  # the [CLS] token
            pooled = hidden[:, 0]
        return torch.softmax(head(pooled).float(), dim=-1).cpu().tolist()

    return probabilities


def _predict_bert(model: Model, texts: list[str]) -> list[dict[str, Any]]:
    encoder = model.encoder
    if encoder is None:
        raise ValueError("a BERT model needs its text encoder")
    predictions = []
    for start in range(0, len(texts), BATCH_SIZE):
        input_ids, attention_mask = encoder.encode(texts[start : start + BATCH_SIZE])
        predictions += [_prediction(model.classes, row) for row in model.predictor(input_ids, attention_mask)]
    return predictions
