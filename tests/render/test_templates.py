"""Every file a spec generates is well-formed: for both example specs, and for specs whose strings are
built to break templates (Jinja syntax, quotes, shell substitutions, newlines), which must come out as
literal data."""

from __future__ import annotations

import ast
import csv
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from sagespec.render import generate
from sagespec.render.origin import detect_origin
from sagespec.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
EVIL = "Evil {{ 7*7 }} {% if True %}x{% endif %} \"double\" 'single' $(rm -rf /) `id` \\ back\nsecond line"
# The same for the fields the spec keeps to one line (names, columns), and a git branch's characters.
EVIL_LINE = EVIL.replace("\n", " ")
EVIL_BRANCH = "evil{{7+7}}\"double\"'single'$(rm-rf)`id`"
# The worst a tag value can be: AWS allows letters, digits, spaces and _ . : / = + - @ (a YAML mapping
# indicator, a shell assignment, a path).
HOSTILE_TAG = "Équipe: a=b + c/d @e -- x_y.z"
HOSTILE_SPEC = """\
spec_version: 1
project:
  name: {evil_line}
  slug: hostile-{model}
  description: {evil}
  tags: {{team: {tag}}}
dataset:
  source: reviews.csv
  text_column: {evil_line}
  label_column: Rating
  label_mapping: {{1: -1, 2: -1, 3: 0, 4: 1, 5: 1}}
  facet_columns: [Class Name]
bias:
  facets:
    - column: Class Name
  positive_labels: [1]
  metrics:
    CI: {{threshold: 0.95}}
model:
  type: {model}
{model_extra}
ci:
  github_actions:
    branch: {branch}
"""


def _write_hostile_spec(folder: Path, model: str) -> Path:
    with (folder / "reviews.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([EVIL_LINE, "Rating", "Class Name"])
        writer.writerows([["Lovely dress", 5, "Dresses"], ["Too small", 2, "Knits"], ["Fine", 3, "Dresses"]])
    extra = f"  pretrained_model: {json.dumps(EVIL_LINE)}" if model == "bert" else ""
    path = folder / "spec.yaml"
    path.write_text(
        HOSTILE_SPEC.format(
            evil=json.dumps(EVIL),
            evil_line=json.dumps(EVIL_LINE),
            branch=json.dumps(EVIL_BRANCH),
            tag=json.dumps(HOSTILE_TAG),
            model=model,
            model_extra=extra,
        )
    )
    return path


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> dict[str, Path]:
    """Generated trees: 'bert', 'blazingtext' (the example specs), 'hostile-bert', 'hostile-blazingtext'."""
    out: dict[str, Path] = {}
    for spec in sorted((REPO / "specs").glob("*.yaml")):
        loaded = load_spec(spec)
        out[loaded.spec.model.type] = (
            tmp_path_factory.mktemp(loaded.spec.model.type) / loaded.spec.project.slug
        )
        generate(loaded, out[loaded.spec.model.type])
    for model in ("bert", "blazingtext"):
        folder = tmp_path_factory.mktemp(f"hostile-{model}")
        out[f"hostile-{model}"] = folder / "project"
        generate(load_spec(_write_hostile_spec(folder, model)), out[f"hostile-{model}"])
    return out


# A Jinja tag that reached a generated file (Python's f-string braces {{"a": 1}} are not one).
JINJA_LEFTOVER = re.compile(r"\{%|%\}|\{#|#\}|\{\{\s*[A-Za-z_][\w.]*\s*(\|[^}]*)?\}\}")
ALL = ["bert", "blazingtext", "hostile-bert", "hostile-blazingtext"]
EXAMPLES = ["bert", "blazingtext"]


def _files(root: Path, *suffixes: str) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and (not suffixes or p.name.endswith(suffixes)))


def _check_jsonschema() -> list[str] | None:
    """How to run check-jsonschema here, or None: $CHECK_JSONSCHEMA, PATH, or this interpreter."""
    if os.environ.get("CHECK_JSONSCHEMA"):
        return [os.environ["CHECK_JSONSCHEMA"]]
    if shutil.which("check-jsonschema"):
        return [shutil.which("check-jsonschema")]
    if importlib.util.find_spec("check_jsonschema"):
        return [sys.executable, "-m", "check_jsonschema"]
    return None


@pytest.mark.parametrize("name", ALL)
def test_python_files_parse_and_pass_ruff_with_the_generated_config(projects, name):
    root = projects[name]
    for path in _files(root, ".py"):
        ast.parse(path.read_text(), str(path))
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=root, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", ALL)
def test_yaml_toml_and_json_files_load(projects, name):
    root = projects[name]
    yaml = YAML(typ="rt")  # round-trip: reads CloudFormation's short-form tags (!Ref, !Sub)
    for path in _files(root, ".yml", ".yaml"):
        assert isinstance(yaml.load(path.read_text()), dict), path
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert pyproject["tool"]["ruff"]["line-length"] == 110
    for path in _files(root, ".json"):
        json.loads(path.read_text())


@pytest.mark.parametrize("name", ALL)
def test_workflows_pass_the_github_workflow_schema(projects, name):
    command = _check_jsonschema()
    if command is None:
        pytest.skip("check-jsonschema is not installed (set CHECK_JSONSCHEMA to its path)")
    workflows = [str(p) for p in _files(projects[name] / ".github" / "workflows")]
    assert len(workflows) == 2
    result = subprocess.run(
        [*command, "--builtin-schema", "vendor.github-workflows", *workflows], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", EXAMPLES)
def test_workflows_and_buildspec_do_what_the_readme_says(projects, name):
    root = projects[name]
    yaml = YAML(typ="safe", pure=True)
    deploy = yaml.load((root / ".github/workflows/deploy-pipeline.yml").read_text())
    job = deploy["jobs"]["deploy"]
    assert job["permissions"] == {"id-token": "write", "contents": "read"}
    assert job["needs"] == "test" and deploy["jobs"]["test"]["uses"] == "./.github/workflows/ci.yml"
    credentials = next(s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws"))
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
    assert not any(key in json.dumps(deploy) for key in ("aws-access-key-id", "aws-secret-access-key"))
    runs = " ".join(s.get("run", "") for s in job["steps"])
    assert "pipelines.run_pipeline upsert" in runs and "pipelines.run_pipeline start" in runs

    buildspec = yaml.load((root / "codebuild-buildspec.yml").read_text())
    assert buildspec["phases"]["install"]["runtime-versions"]["python"] == "3.12"
    commands = " ".join(buildspec["phases"]["build"]["commands"])
    for word in ("definition", "upsert", "start", '--role-arn "$SAGEMAKER_PIPELINE_ROLE_ARN"', "--tags"):
        assert word in commands
    for variable in ("AWS_REGION", "ARTIFACT_BUCKET", "SAGEMAKER_PROJECT_NAME", "SAGEMAKER_PROJECT_ID"):
        assert "${" + variable + "}" in commands
    assert buildspec["artifacts"]["files"] == ["pipeline-definition.json"]


@pytest.mark.parametrize("name", ALL)
def test_makefile_recipes_use_tabs_and_make_reads_it(projects, name):
    root = projects[name]
    lines = (root / "Makefile").read_text().splitlines()
    in_rule = False
    for number, line in enumerate(lines, 1):
        if re.match(r"^[a-z-]+:", line):
            in_rule = True
        elif not line.strip():
            in_rule = False
        elif in_rule:
            assert line.startswith("\t"), f"Makefile:{number}: recipe line not indented with a tab"
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    targets = ["install", "test", "lint", "local", "definition", "upsert", "start"]
    variables = ["ROLE_ARN=arn:x", "DATA=a b.csv", "REGION=eu-west-1"]
    dry_run = subprocess.run(["make", "-n", *targets, *variables], cwd=root, capture_output=True, text=True)
    assert dry_run.returncode == 0, dry_run.stderr
    assert f'pip install -r requirements-dev.txt "{detect_origin().requirement}"' in dry_run.stdout
    assert 'sagespec local run . --data "a b.csv"' in dry_run.stdout
    assert 'pipelines.run_pipeline definition --kwargs \'{"region": "eu-west-1"}\'' in dry_run.stdout
    assert 'pipelines.run_pipeline upsert --role-arn "arn:x" --kwargs' in dry_run.stdout
    help_text = subprocess.run(["make", "help"], cwd=root, capture_output=True, text=True, check=True).stdout
    for target in ("install", "test", "lint", "local", "definition", "upsert", "start"):
        assert re.search(rf"^  {target} ", help_text, re.MULTILINE), help_text
    refused = subprocess.run(["make", "upsert"], cwd=root, capture_output=True, text=True)
    assert refused.returncode != 0 and "usage: make upsert ROLE_ARN=" in refused.stderr


@pytest.mark.parametrize("name", EXAMPLES)
def test_text_files_are_tidy_and_free_of_template_leftovers(projects, name):
    root = projects[name]
    for path in _files(root):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(("data/", ".sagespec/")) or rel == "spec.yaml":
            continue  # the user's own bytes
        text = path.read_text()
        assert text.endswith("\n") and not text.endswith("\n\n"), f"{rel}: must end with one newline"
        assert not [n for n, line in enumerate(text.splitlines(), 1) if line != line.rstrip()], (
            f"{rel}: trailing space"
        )
        leftover = re.sub(r"\$\{\{.*?\}\}", "", text)  # GitHub Actions expressions are meant to be there
        if rel.endswith(".liquid.html"):  # the A2I worker task template is Liquid on purpose
            leftover = leftover.replace("{{ task.input.taskObject | escape }}", "")
        assert not JINJA_LEFTOVER.search(leftover), f"{rel}: {JINJA_LEFTOVER.search(leftover)}"


@pytest.mark.parametrize("model", ["bert", "blazingtext"])
def test_hostile_strings_come_out_literally(projects, model):
    root = projects[f"hostile-{model}"]
    readme = (root / "README.md").read_text()
    assert "{{ 7*7 }}" in readme and "{% if True %}x{% endif %}" in readme
    assert "$(rm -rf /)" not in (root / "Makefile").read_text()  # make would run it
    kept = load_spec(root / "spec.yaml").spec
    assert kept.project.name == EVIL_LINE and kept.dataset.text_column == EVIL_LINE
    assert kept.ci.github_actions.branch == EVIL_BRANCH
    yaml = YAML(typ="safe", pure=True)
    ci = yaml.load((root / ".github/workflows/ci.yml").read_text())
    assert ci["on"]["push"]["branches-ignore"] == [EVIL_BRANCH]
    assert tomllib.loads((root / "pyproject.toml").read_text())["project"]["description"] == EVIL
    # The text column reaches the pipeline code as a string value, not as code.
    escaped = json.dumps(EVIL_LINE)[1:-1]
    constants = [
        node.value
        for path in _files(root / "pipelines", ".py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    assert any(EVIL_LINE in c or escaped in c for c in constants)
    assert HOSTILE_TAG in constants  # the tag reaches pipeline.py's TAGS as a string


def _generate_variant(tmp_path: Path, ci_yaml: str) -> Path:
    text = (REPO / "specs" / "womens-clothing-blazingtext.yaml").read_text()
    spec = tmp_path / "spec.yaml"
    spec.write_text(text.replace("../data/", f"{REPO.as_posix()}/data/") + ci_yaml)
    generate(load_spec(spec), tmp_path / "project")
    return tmp_path / "project"


def test_a_given_role_and_branch_reach_the_deploy_workflow_and_codebuild_can_be_off(tmp_path):
    role = "arn:aws:iam::123456789012:role/github-deploy"
    root = _generate_variant(
        tmp_path,
        f"ci:\n  github_actions: {{role_arn: {role}, branch: release}}\n  codebuild: {{enabled: false}}\n",
    )
    yaml = YAML(typ="safe", pure=True)
    deploy = yaml.load((root / ".github/workflows/deploy-pipeline.yml").read_text())
    steps = deploy["jobs"]["deploy"]["steps"]
    credentials = next(s for s in steps if s.get("uses", "").startswith("aws-actions/configure-aws"))
    assert credentials["with"]["role-to-assume"] == role
    assert deploy["on"]["push"]["branches"] == ["release"]
    assert "AWS_ROLE_ARN" not in (root / ".github/workflows/deploy-pipeline.yml").read_text()
    assert not (root / "codebuild-buildspec.yml").exists()
    assert "codebuild-buildspec.yml" not in (root / "README.md").read_text()
    command = _check_jsonschema()
    if command:
        workflows = [str(p) for p in _files(root / ".github" / "workflows")]
        result = subprocess.run(
            [*command, "--builtin-schema", "vendor.github-workflows", *workflows],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_without_ci_the_readme_says_so(tmp_path):
    root = _generate_variant(
        tmp_path, "ci:\n  github_actions: {enabled: false}\n  codebuild: {enabled: false}\n"
    )
    assert not (root / ".github").exists() and not (root / "codebuild-buildspec.yml").exists()
    assert "No CI is configured" in (root / "README.md").read_text()
