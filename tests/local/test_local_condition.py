"""The condition step: below the threshold the run ends in FailPipeline (exit 1) and nothing is registered."""

from __future__ import annotations

import json

from sagespec.plan import build_plan
from sagespec.spec import load_spec


def _fail_message(project) -> str:
    return build_plan(load_spec(project / "spec.yaml").spec).fail_message


def test_threshold_override_fails_the_run(blazingtext_run, helpers, tmp_path):
    project = helpers.copy_project(blazingtext_run.project, tmp_path / "proj")
    result = helpers.run_cli(["local", "run", str(project), "--threshold", "0.99", "-q"])
    assert result.code == 1
    assert f"error: FailPipeline: {_fail_message(project)}" in result.err
    assert "< threshold 0.99" in result.err
    assert "Traceback" not in result.text
    run = helpers.latest_run(project)
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "failed"
    assert {s["name"]: s["status"] for s in record["steps"]}["RegisterModel"] == "skipped"
    assert record["condition"]["passed"] is False and record["condition"]["next"] == "FailPipeline"
    versions = sorted(
        p.name for p in (project / ".sagespec-runs/registry/reviews-blazingtext-models").iterdir()
    )
    assert versions == ["1"]  # only the first, passing run registered


def test_the_specs_threshold_is_the_default(blazingtext_run, helpers, tmp_path):
    project = helpers.copy_project(blazingtext_run.project, tmp_path / "proj")
    helpers.edit_spec(project, evaluation={"threshold": 0.999})
    result = helpers.run_cli(["local", "run", str(project), "-q"])
    assert result.code == 1
    assert _fail_message(project) in result.err and "< threshold 0.999" in result.err
    assert "condition: accuracy" in result.out and "-> FailPipeline" in result.out
