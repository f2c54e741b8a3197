"""Batch scoring on SageMaker in a generated project: deploy/batch.py and its tests exist only when the spec
has a `batch` section, carry its settings, and pass the project's own checks (every request validated
against botocore's service model, the job run against moto)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sagespec.render import render_project
from sagespec.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
SPECS, DATA = REPO / "specs", REPO / "data"
BATCH = "batch: {instance_type: ml.c5.xlarge, instance_count: 3, max_payload_mb: 12}\n"


def run_in_project(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m <args>`` in the generated project, with this interpreter."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=project, capture_output=True, text=True, timeout=600, env=env
    )


def _generate(folder: Path, batch: str, example: str = "womens-clothing-blazingtext.yaml") -> Path:
    text = (SPECS / example).read_text()
    text = re.sub(
        r"source: \S+",
        f"source: {(DATA / 'womens_clothing_ecommerce_reviews.csv').as_posix()}",
        text,
        count=1,
    )
    spec = folder / "spec.yaml"
    spec.write_text(text + batch)
    project = folder / "project"
    render_project(load_spec(spec)).write(project)
    return project


# Each server the deployed model can have: BlazingText's image (JSON lines), the handler (BERT: JSON, one
# record per request), Autopilot's container (CSV).
EXAMPLES = ["womens-clothing-blazingtext.yaml", "womens-clothing-bert.yaml", "womens-clothing-autopilot.yaml"]


@pytest.fixture(scope="module", params=EXAMPLES, ids=lambda name: name.split("-")[-1].removesuffix(".yaml"))
def batch_project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _generate(tmp_path_factory.mktemp("batch-aws"), BATCH, request.param)


def test_the_spec_settings_reach_the_job(batch_project: Path) -> None:
    settings = (batch_project / "deploy" / "settings.py").read_text()
    assert '"instance_type": "ml.c5.xlarge"' in settings
    assert '"instance_count": 3' in settings and '"max_payload_mb": 12' in settings
    makefile = (batch_project / "Makefile").read_text()
    assert "\nbatch-aws:" in makefile and "-m deploy.batch" in makefile
    assert "\nbatch:" in makefile


@pytest.mark.slow  # the generated project's own tests, for each example
def test_the_generated_batch_job_passes_its_tests(batch_project: Path) -> None:
    result = run_in_project(batch_project, "pytest", "-q", "-p", "no:cacheprovider", "tests/test_batch.py")
    tail = (result.stdout + result.stderr)[-4000:]
    assert result.returncode == 0, tail
    assert " passed" in result.stdout and " failed" not in result.stdout, tail
    for command in (("ruff", "check"), ("ruff", "format", "--check")):
        files = ["deploy/batch.py", "deploy/payload.py", "tests/test_batch.py"]
        result = run_in_project(batch_project, *command, *files, "--no-cache")
        assert result.returncode == 0, result.stdout + result.stderr


def test_without_a_batch_section_there_is_no_batch_job(tmp_path: Path) -> None:
    project = _generate(tmp_path, "")
    assert not (project / "deploy" / "batch.py").exists()
    assert not (project / "tests" / "test_batch.py").exists()
    assert "BATCH" not in (project / "deploy" / "settings.py").read_text()
    makefile = (project / "Makefile").read_text()
    assert "batch-aws" not in makefile
    assert "\nbatch:" in makefile  # local batch scoring needs only the handler
