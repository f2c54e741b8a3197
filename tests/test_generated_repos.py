"""For every example spec: generate the project, then run the generated repo's own checks in it —
ruff on its code and its whole pytest suite (pipeline definition built offline, step scripts on real
data, and whatever else the spec switches on). What a team gets must pass its own `make lint test`."""

from __future__ import annotations

import pytest

from sagespec.render import render_project
from sagespec.spec import load_spec

from .conftest import EXAMPLE_SPECS, run_in_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=EXAMPLE_SPECS, ids=lambda p: p.stem)
def project(request, tmp_path_factory):
    loaded = load_spec(request.param)
    out = tmp_path_factory.mktemp("generated") / loaded.spec.project.slug
    render_project(loaded).write(out)
    return out


def test_generated_code_is_ruff_clean(project):
    result = run_in_project(project, "ruff", "check", ".", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_in_project(project, "ruff", "format", "--check", ".", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_repo_passes_its_own_tests(project):
    result = run_in_project(project, "pytest", "-q", "-p", "no:cacheprovider")
    tail = (result.stdout + result.stderr)[-4000:]
    assert result.returncode == 0, tail
    assert " passed" in result.stdout and " failed" not in result.stdout, tail
