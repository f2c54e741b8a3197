"""What `labeling` in a spec generates: which files, what the worker task template says, and that the
generated repo's own labeling tests pass for the variants (Cognito workforce, hostile strings)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import botocore.session
import pytest

from sagespec.errors import SpecError
from sagespec.label.project import load_labeling_project
from sagespec.render import generate
from sagespec.spec import load_spec, load_spec_text
from sagespec.spec.labeling import TEXT_CLASSIFICATION_LAMBDAS

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = (REPO / "specs" / "womens-clothing-blazingtext.yaml").read_text()
BERT_EXAMPLE = (REPO / "specs" / "womens-clothing-bert.yaml").read_text()
LABELING_START = EXAMPLE.index("\nlabeling:\n")
# Without labeling there is no ground truth, so no model-quality monitor either (the spec refuses one).
WITHOUT_LABELING = re.sub(r"\n  model_quality: .*", "", EXAMPLE[:LABELING_START]) + "\n"
EVIL = "Evil {{ 7*7 }} {% if true %}x{% endif %} --> </script> \"double\" 'single' & <b>"
COGNITO = f"""
labeling:
  enabled: true
  labels: {{{json.dumps("Neg " + EVIL)}: -1, Neutral: 0, "Pos {{{{ x }}}}": 1}}
  task_title: {json.dumps(EVIL)}
  task_description: {json.dumps(EVIL)}
  instructions:
    short: {json.dumps(EVIL)}
    full: {json.dumps(EVIL + chr(10) + chr(10) + "Second paragraph")}
  workers_per_item: 3
  workforce:
    cognito_user_pool_id: us-east-1_AbCdEfGhI
    cognito_client_id: 1example23456789abcdefghijk
"""


class _Page(HTMLParser):
    """Attributes of the first element of each tag, and the text inside each tag (entities decoded)."""

    def __init__(self) -> None:
        super().__init__()
        self.attrs: dict[str, dict[str, str]] = {}
        self.text: dict[str, str] = {}
        self._open: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.attrs.setdefault(tag, {k: v or "" for k, v in attrs})
        self._open.append(tag)

    def handle_endtag(self, tag):
        while self._open and self._open.pop() != tag:
            pass

    def handle_data(self, data):
        for tag in self._open:
            self.text[tag] = self.text.get(tag, "") + data


def _project(tmp_path: Path, spec_text: str) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_text.replace("../data/", f"{REPO.as_posix()}/data/"))
    generate(load_spec(spec), tmp_path / "project")
    return tmp_path / "project"


def _generated_tests_pass(root: Path) -> None:
    """The project's labeling tests pass, and its labeling code passes ruff with the project's settings."""
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "labeling", "tests/test_labeling.py"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_labeling.py"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_example_generates_every_labeling_file_and_its_tests_pass(tmp_path):
    root = _project(tmp_path, EXAMPLE)
    files = sorted(p.name for p in (root / "labeling").iterdir())
    assert files == [
        "__init__.py",
        "ground_truth.py",
        "human_review.py",
        "model_quality_labels.py",  # the example monitors model quality
        "retraining_data.py",
        "review_predictions.py",
        "settings.py",
        "task_template.py",
        "worker_task.liquid.html",
    ]  # a work team is given: no workforce.py
    assert "python-liquid==" in (root / "requirements-dev.txt").read_text()
    makefile = (root / "Makefile").read_text()
    assert "sagespec local label ." in makefile and "sagespec local retrain-data ." in makefile
    _generated_tests_pass(root)


def test_without_labeling_nothing_of_it_is_generated(tmp_path):
    root = _project(tmp_path, WITHOUT_LABELING)
    assert not (root / "labeling").exists() and not (root / "tests" / "test_labeling.py").exists()
    assert "local label" not in (root / "Makefile").read_text()
    assert "python-liquid" not in (root / "requirements-dev.txt").read_text()


def test_bert_with_a_cognito_workforce_and_hostile_strings(tmp_path):
    assert "\nlabeling:" not in BERT_EXAMPLE
    root = _project(tmp_path, BERT_EXAMPLE + COGNITO)
    assert (root / "labeling" / "workforce.py").is_file()
    assert not (root / "labeling" / "ground_truth.py").exists()
    template = (root / "labeling" / "worker_task.liquid.html").read_text()
    # Spec strings reach the template escaped for HTML and with braces hidden from Liquid.
    assert "{{" not in template.replace("{{ task.input.taskObject | escape }}", "")
    assert "{%" not in template and "%}" not in template
    assert template.count("</script>") == 1 and template.count("-->") == 1  # the loader's, the header's
    project = load_labeling_project(root)
    page = _Page()
    page.feed(project.task_template.render_task({"taskObject": "a review"}))
    classifier = page.attrs["crowd-classifier"]
    assert json.loads(classifier["categories"]) == ["Neg " + EVIL, "Neutral", "Pos {{ x }}"]
    assert classifier["header"] == EVIL and page.attrs["full-instructions"]["header"] == EVIL
    assert page.text["short-instructions"].strip() == EVIL  # the spec's text, shown as text
    assert page.text["full-instructions"].split("\n")[1].strip() == EVIL
    _generated_tests_pass(root)


@pytest.mark.parametrize(
    ("old", "new", "path", "fragment"),
    [
        ("  workers_per_item: 1\n", "  workers_per_item: 4\n", "labeling.workers_per_item", "at most 3"),
        (
            "  confidence_threshold: 0.6",
            "  confidence_threshold: 0.3",  # a top probability of 3 classes is never below 1/3
            "labeling.confidence_threshold",
            "no prediction would go",
        ),
        ("  region: us-east-1\n", "  region: sa-east-1\n", "labeling.ground_truth.enabled", "not offered in"),
        (
            "  ground_truth:\n    enabled: true\n",
            "  ground_truth:\n    enabled: true\n    input_manifest: manifests/in.jsonl\n",
            "labeling.ground_truth.input_manifest",
            "s3://",
        ),
    ],
)
def test_spec_checks_for_labeling(old, new, path, fragment):
    assert old in EXAMPLE
    try:
        loaded = load_spec_text(EXAMPLE.replace(old, new))
        found = {w.path: w.message for w in loaded.warnings}
    except SpecError as exc:
        found = {i.path: i.message for i in exc.issues + exc.warnings}
    assert fragment in found.get(path, ""), found
    assert not [p for p in found if not p.startswith("labeling.")], found


def test_labeling_needs_the_endpoint():
    with pytest.raises(SpecError) as caught:
        load_spec_text(EXAMPLE.replace("deployment:\n", "deployment:\n  enabled: false\n", 1))
    assert any(i.path == "labeling.enabled" and "deployment" in i.message for i in caught.value.issues)


def test_ground_truth_lambda_table_matches_the_api_reference():
    """botocore's service model carries the API reference; its lists of ARNs are the source."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    for shape, member, prefix, index in [
        ("HumanTaskConfig", "PreHumanTaskLambdaArn", "PRE", 0),
        ("AnnotationConsolidationConfig", "AnnotationConsolidationLambdaArn", "ACS", 1),
    ]:
        documented = model.shape_for(shape).members[member].documentation
        arns = set(
            re.findall(rf"arn:aws:lambda:[a-z0-9-]+:\d{{12}}:function:{prefix}-TextMultiClass\b", documented)
        )
        assert arns == {pair[index] for pair in TEXT_CLASSIFICATION_LAMBDAS.values()}
    assert {"us-east-1", "us-east-2", "us-west-2", "eu-west-1"} <= set(TEXT_CLASSIFICATION_LAMBDAS)
