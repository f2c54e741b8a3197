"""Fixtures for `sagespec local label`: generated projects with labeling on, and a real local run.

The suite runs with --import-mode=importlib, so test modules reach shared helpers through fixtures.
"""

from __future__ import annotations

import copy
import csv
import io
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data" / "womens_clothing_ecommerce_reviews.csv"
EXAMPLE = REPO / "specs" / "womens-clothing-blazingtext.yaml"
SAMPLE_ROWS = 900


def example_spec(**changes: Any) -> dict[str, Any]:
    """The BlazingText example (labeling on), small and quick: no bias step, a tiny fastText model,
    a condition every model passes (the registered model is what the page scores with)."""
    spec = YAML(typ="safe").load(EXAMPLE.read_text())
    spec["dataset"]["source"] = "reviews.csv"
    spec["bias"]["enabled"] = False
    spec["model"]["hyperparameters"].update(
        {"buckets": 10000, "vector_dim": 20, "learning_rate": 0.5, "epochs": 5, "early_stopping": False}
    )
    spec["evaluation"]["threshold"] = 0.0
    for section, values in changes.items():
        spec[section] = {**copy.deepcopy(spec.get(section, {})), **values}
    return spec


def write_sample(path: Path, rows: int = SAMPLE_ROWS) -> Path:
    """The first ``rows`` reviews with text (a fixed sample: the tests must not depend on chance)."""
    with DATA.open(newline="", encoding="utf-8") as src, path.open("w", newline="", encoding="utf-8") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, reader.fieldnames or [])
        writer.writeheader()
        kept = 0
        for row in reader:
            if (row.get("Review Text") or "").strip():
                writer.writerow(row)
                kept += 1
                if kept == rows:
                    break
    return path


def make_project(workdir: Path, spec: dict[str, Any]) -> Path:
    from sagespec.render import generate
    from sagespec.spec import load_spec

    workdir.mkdir(parents=True, exist_ok=True)
    write_sample(workdir / "reviews.csv")
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    with (workdir / "spec.yaml").open("w") as fh:
        yaml.dump(spec, fh)
    project = workdir / "project"
    generate(load_spec(workdir / "spec.yaml"), project)
    return project


@pytest.fixture
def labeling_spec() -> dict[str, Any]:
    """The spec of the labeling projects (example_spec()), for a test to change and generate itself."""
    return example_spec()


@pytest.fixture
def generate_project():
    """make_project: the sample and a spec written to a folder, and the project generated from them."""
    return make_project


@pytest.fixture(scope="session")
def _pristine_project(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("label-project"), example_spec())


@pytest.fixture
def labeling_project(_pristine_project, tmp_path) -> Path:
    """A generated project with labeling on (a fresh copy for each test); no local run."""
    return Path(shutil.copytree(_pristine_project, tmp_path / "project"))


@pytest.fixture(scope="session")
def run_project(tmp_path_factory) -> Path:
    """A generated project after one real `sagespec local run` (about 15 s; shared by the session)."""
    from sagespec.local.runner import RunOptions, run_pipeline

    project = make_project(tmp_path_factory.mktemp("label-run"), example_spec())
    result = run_pipeline(RunOptions(project_dir=project, quiet=True, out=io.StringIO()))
    assert result.status == "succeeded" and result.package is not None
    return project


@pytest.fixture
def queue_for():
    """A review queue for the given texts, scored as the given predictions (no model needed)."""
    from sagespec.label.project import load_labeling_project
    from sagespec.label.scoring import ScoredText
    from sagespec.label.tasks import ReviewQueue

    def build(project_dir: Path, texts: list[str], confidence: float = 0.4):
        project = load_labeling_project(project_dir)
        classes = sorted(project.settings.RAW_LABELS)
        rest = (1 - confidence) / (len(classes) - 1)
        scored = [
            ScoredText(
                text,
                classes[0],
                {
                    "label": classes[0],
                    "confidence": confidence,
                    "probabilities": {c: confidence if c == classes[0] else rest for c in classes},
                },
            )
            for text in texts
        ]
        run_dir = project_dir / ".sagespec-runs" / "20250101-000000"
        return ReviewQueue.build(project, run_dir, scored, threshold=project.settings.CONFIDENCE_THRESHOLD)

    return build


@pytest.fixture
def serve():
    """Serve a queue's page on 127.0.0.1 (any free port) for the test; returns the server."""
    from sagespec.label.server import LabelingApp, LabelingServer

    servers = []

    def start(queue):
        server = LabelingServer(LabelingApp(queue), port=0)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
