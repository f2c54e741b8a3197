"""Projects for the data-capture and shadow-variant tests: the template's handler and a local registry of
two tiny fastText models that disagree.

Version 1 (Approved) learned the reviews' classes; version 2 (pending) learned that every review is
``neg`` (a few nonsense texts keep ``pos`` among its classes). So version 2 agrees with version 1 on the
negative reviews and disagrees on the positive ones.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import shutil
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sagespec.local.registry import register_model
from sagespec.serve.endpoint import Endpoint, load_endpoint
from sagespec.serve.listener import EndpointServer, start_in_thread
from sagespec.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
HANDLER = REPO / "template" / "pipelines" / "__pkg__" / "inference.py"
GROUP = "shadow-endpoint-models"
PACKAGE = "shadow_endpoint"
ENDPOINT_NAME = "shadow-endpoint"
POSITIVE = ["great dress love it", "lovely fit and soft", "perfect and beautiful"]
NEGATIVE = ["terrible fit awful", "cheap fabric returned it", "too small and ugly"]


def spec_text(deployment: str) -> str:
    """A spec whose deployment section is ``deployment`` (YAML, indented by two spaces)."""
    return f"""\
spec_version: 1
project: {{name: Shadow endpoint, slug: {ENDPOINT_NAME}}}
dataset:
  source: reviews.csv
  text_column: Review Text
  label_column: Rating
  label_mapping: {{1: neg, 2: neg, 4: pos, 5: pos}}
model: {{type: blazingtext}}
bias: {{enabled: false}}
registry: {{model_package_group: {GROUP}}}
deployment:
{deployment}"""


def register(
    registry: Path,
    work: Path,
    *,
    group: str,
    lines: list[str],
    status: str,
    run_id: str,
    epochs: int,
    evaluation: dict,
) -> None:
    """Train a tiny fastText model on ``lines`` (each repeated 20 times) in ``work`` and register it."""
    import fasttext

    work.mkdir(exist_ok=True)
    (work / "train.txt").write_text("".join(lines) * 20)
    model = fasttext.train_supervised(
        str(work / "train.txt"), epoch=epochs, dim=8, bucket=1000, thread=1, seed=1, verbose=0
    )
    model.save_model(str(work / "model.bin"))
    with tarfile.open(work / "model.tar.gz", "w:gz") as tar:
        tar.add(work / "model.bin", arcname="model.bin")
    (work / "evaluation.json").write_text(json.dumps(evaluation))
    register_model(
        registry,
        group=group,
        model_artifact=work / "model.tar.gz",
        evaluation_report=work / "evaluation.json",
        approval_status=status,
        model_type="blazingtext",
        region="us-east-1",
        inference_instance_types=["ml.m5.large"],
        run_id=run_id,
    )


def write_project(root: Path, package: str, spec: str) -> None:
    """The files `serve` reads: pipelines/<package>/inference.py (the template's handler) and spec.yaml."""
    (root / "pipelines" / package).mkdir(parents=True)
    shutil.copyfile(HANDLER, root / "pipelines" / package / "inference.py")
    (root / "spec.yaml").write_text(spec)


def load(project: Path, seed: int | None = 0) -> Endpoint:
    """The project's local endpoint (``seed`` as load_endpoint takes it), printing nothing."""
    return load_endpoint(project, load_spec(project / "spec.yaml").spec, seed=seed, out=io.StringIO())


@contextlib.contextmanager
def serving(endpoint: Endpoint) -> Iterator[http.client.HTTPConnection]:
    """``endpoint`` served on a free local port, and a connection to it; the server stops on leaving."""
    server = EndpointServer(("127.0.0.1", 0), endpoint)
    start_in_thread(server)
    try:
        yield http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def disagreeing_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry: version 1 (Approved) right about the reviews, version 2 (pending) calling all ``neg``."""
    pytest.importorskip("fasttext")
    work = tmp_path_factory.mktemp("shadow-models")
    registry = work / "registry"
    right = [f"__label__pos {t}\n" for t in POSITIVE] + [f"__label__neg {t}\n" for t in NEGATIVE]
    all_neg = [f"__label__neg {t}\n" for t in POSITIVE + NEGATIVE] + ["__label__pos qqq zzz xxq\n"]
    for version, lines, status in ((1, right, "Approved"), (2, all_neg, "PendingManualApproval")):
        run = f"run-{version}"
        register(
            registry,
            work / f"v{version}",
            group=GROUP,
            lines=lines,
            status=status,
            run_id=run,
            epochs=25,
            evaluation={"run": run},
        )
    return registry


@pytest.fixture
def make_project(disagreeing_registry: Path, tmp_path: Path) -> Callable[[str], Path]:
    """A project with the handler, the two models and a spec with the given deployment section."""

    def make(deployment: str, name: str = "project") -> Path:
        root = tmp_path / name
        write_project(root, PACKAGE, spec_text(deployment))
        shutil.copytree(disagreeing_registry, root / ".sagespec-runs" / "registry")
        return root

    return make
