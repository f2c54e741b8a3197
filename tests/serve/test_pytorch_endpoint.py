"""`sagespec local serve` with a PyTorch BERT model: the registered model.tar.gz is the export the PyTorch
training script writes (encoder, classifier.safetensors, tokenizer, labels.json), built here from a tiny
1-layer BERT, and served through the template's inference handler like any other model.
"""

from __future__ import annotations

import http.client
import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sagespec.local.registry import register_model
from sagespec.serve.endpoint import load_endpoint
from sagespec.serve.listener import EndpointServer, start_in_thread
from sagespec.spec import load_spec

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

REPO = Path(__file__).resolve().parents[2]
HANDLER = REPO / "template" / "pipelines" / "__pkg__" / "inference.py"
GROUP = "tiny-bert-models"
SPEC = """\
spec_version: 1
project: {name: Tiny BERT endpoint, slug: tiny-bert-endpoint}
dataset:
  source: reviews.csv
  text_column: Review Text
  label_column: Rating
  label_mapping: {1: neg, 2: neg, 4: pos, 5: pos}
model: {type: bert, framework: pytorch, pretrained_model: sentence-transformers/all-MiniLM-L6-v2}
bias: {enabled: false}
registry: {model_package_group: tiny-bert-models}
deployment:
  variants:
    - {name: Current, model: {select: newest}, initial_weight: 1}
"""
CLASSES = ["neg", "pos"]
WORDS = ["great", "dress", "love", "terrible", "fit", "awful"]


def _export(folder: Path) -> Path:
    """train.py's PyTorch export of a 1-layer BERT whose head is set to read one hidden unit."""
    from safetensors.torch import save_file

    (folder / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n"
    )
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    config = transformers.BertConfig(
        vocab_size=len(WORDS) + 5,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
    )
    torch.manual_seed(0)
    export = folder / "model"
    transformers.BertModel(config, add_pooling_layer=False).save_pretrained(str(export))
    tokenizer.save_pretrained(str(export))
    head = {"weight": torch.randn(len(CLASSES), config.hidden_size), "bias": torch.zeros(len(CLASSES))}
    save_file(head, str(export / "classifier.safetensors"))
    labels = {"classes": CLASSES, "max_seq_length": 16, "pad_token_id": 0, "pooling": "mean"}
    (export / "labels.json").write_text(json.dumps(labels))
    (export / "code").mkdir()
    shutil.copyfile(HANDLER, export / "code" / "inference.py")
    return export


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("serve-pytorch")
    root = folder / "project"
    (root / "pipelines" / "tiny_bert_endpoint").mkdir(parents=True)
    shutil.copyfile(HANDLER, root / "pipelines" / "tiny_bert_endpoint" / "inference.py")
    (root / "spec.yaml").write_text(SPEC)
    export = _export(folder)
    with tarfile.open(folder / "model.tar.gz", "w:gz") as tar:
        for path in sorted(export.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(export)), recursive=False)
    (folder / "evaluation.json").write_text(json.dumps({"metrics": {}}))
    register_model(
        root / ".sagespec-runs" / "registry",
        group=GROUP,
        model_artifact=folder / "model.tar.gz",
        evaluation_report=folder / "evaluation.json",
        approval_status="Approved",
        model_type="bert/pytorch",
        region="us-east-1",
        inference_instance_types=["ml.m5.large"],
        run_id="run-1",
    )
    return root


@pytest.fixture
def server(project: Path) -> Iterator[EndpointServer]:
    endpoint = load_endpoint(project, load_spec(project / "spec.yaml").spec, seed=1, out=io.StringIO())
    srv = EndpointServer(("127.0.0.1", 0), endpoint)
    start_in_thread(srv)
    yield srv
    srv.shutdown()
    srv.server_close()
    endpoint.close()


def _post(server: EndpointServer, body: str, content_type: str) -> dict:
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    connection.request("POST", "/invocations", body=body, headers={"Content-Type": content_type})
    response = connection.getresponse()
    answer = response.read()
    assert response.status == 200, answer
    return json.loads(answer)


def test_a_pytorch_bert_model_is_served_from_the_registry(server: EndpointServer) -> None:
    texts = ["great dress, love it", "terrible fit. awful", "love love love " * 10, "unknown words only"]
    answer = _post(server, json.dumps({"instances": texts}), "application/json")["predictions"]
    assert len(answer) == len(texts)
    for prediction in answer:
        assert list(prediction["probabilities"]) == CLASSES
        assert sum(prediction["probabilities"].values()) == pytest.approx(1, abs=1e-5)
        assert prediction["label"] == max(prediction["probabilities"], key=prediction["probabilities"].get)
    csv_body = "".join('"' + text.replace('"', '""') + '"\n' for text in texts)
    assert _post(server, csv_body, "text/csv")["predictions"] == answer


def test_the_served_answer_is_the_models_forward_pass(server: EndpointServer, project: Path) -> None:
    """The endpoint's probabilities are those of train.py's model (text_classifier.py): the mean of the
    encoder's token vectors, then the linear head (one text at a time here, so padding plays no part)."""
    from safetensors.torch import load_file

    artifact = next((project / ".sagespec-runs" / "registry" / GROUP).glob("*/model.tar.gz"))
    folder = project.parent / "reference"
    with tarfile.open(artifact) as tar:
        tar.extractall(folder, filter="data")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    encoder = transformers.AutoModel.from_pretrained(str(folder), add_pooling_layer=False).eval()
    head = load_file(str(folder / "classifier.safetensors"))
    text = "great dress, love it"
    with torch.no_grad():
        hidden = encoder(**tokenizer(text, return_tensors="pt")).last_hidden_state[0]
        expected = torch.softmax(hidden.mean(0) @ head["weight"].T + head["bias"], -1).tolist()
    (prediction,) = _post(server, json.dumps({"inputs": text}), "application/json")["predictions"]
    assert list(prediction["probabilities"].values()) == pytest.approx(expected, abs=1e-5)
