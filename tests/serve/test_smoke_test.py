"""deploy/smoke_test.py (`make smoke`) against the local endpoint of `make serve`.

The example BlazingText project is generated; two tiny fastText models (version 1 approved, version 2
pending) go into its local registry by hand, so no pipeline run is needed. `sagespec local serve` runs
as `make serve` runs it, and the generated script runs as `make smoke` runs it, from the project folder.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sagespec.render import generate
from sagespec.spec import load_spec

from .conftest import register

fasttext = pytest.importorskip("fasttext")

REPO = Path(__file__).resolve().parents[2]
SAGESPEC = Path(sys.executable).with_name("sagespec")
# The example's classes (label_mapping {1: -1, 2: -1, 3: 0, 4: 1, 5: 1}).
TRAIN = {
    "1": ["great dress love it", "lovely fit and soft", "perfect and beautiful"],
    "0": ["it is fine", "okay for the price", "average fabric"],
    "-1": ["terrible fit awful", "cheap fabric returned it", "too small and ugly"],
}


def _register(project: Path, work: Path, status: str, epochs: int) -> None:
    register(
        project / ".sagespec-runs" / "registry",
        work,
        group=load_spec(project / "spec.yaml").spec.model_package_group,
        lines=[f"__label__{label} {text}\n" for label, texts in TRAIN.items() for text in texts],
        status=status,
        run_id=f"run-{epochs}",
        epochs=epochs,
        evaluation={"epochs": epochs},
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("smoke")
    spec = folder / "spec.yaml"
    text = (REPO / "specs" / "womens-clothing-blazingtext.yaml").read_text()
    spec.write_text(text.replace("../data/", f"{REPO.as_posix()}/data/"))
    root = folder / "project"
    generate(load_spec(spec), root)
    _register(root, folder, "Approved", epochs=20)
    _register(root, folder, "PendingManualApproval", epochs=2)
    return root


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint(project: Path) -> Iterator[str]:
    """`make serve`: the project's local endpoint, until the module's tests are done."""
    port = _free_port()
    server = subprocess.Popen(
        [SAGESPEC, "local", "serve", str(project), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/ping", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the local endpoint did not start: {server.communicate()[0]}")
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def smoke(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`make smoke`: the generated script, run from the project folder."""
    return subprocess.run(
        [sys.executable, "-m", "deploy.smoke_test", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_variant_answers_the_sample_texts(project, endpoint):
    result = smoke(project, "--url", endpoint)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Current: ok" in result.stdout and "Challenger: ok" in result.stdout
    assert "smoke test: passed" in result.stdout


def test_a_slow_answer_fails(project, endpoint):
    result = smoke(project, "--url", endpoint, "--max-latency-ms", "0")
    assert result.returncode == 1
    assert "Current: answered in" in result.stderr and "(limit 0 ms)" in result.stderr


def test_an_endpoint_that_does_not_answer_fails(project):
    result = smoke(project, "--url", f"http://127.0.0.1:{_free_port()}")
    assert result.returncode == 1
    assert "Current: no answer" in result.stderr and "smoke test: FAILED" in result.stdout


def test_make_smoke_runs_the_script_against_make_serve(project):
    makefile = (project / "Makefile").read_text()
    recipe = "$(PYTHON) -m deploy.smoke_test --url http://127.0.0.1:$(or $(PORT),8080)"
    assert "\nsmoke: ##" in makefile and f"\n\t{recipe}\n" in makefile
    assert "sagespec local serve . $(if $(PORT),--port $(PORT))" in makefile  # 8080 by default too
