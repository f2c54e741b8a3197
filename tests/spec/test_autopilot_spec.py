"""model.type autopilot: what the spec accepts is what a pipeline's AutoML job accepts for a multiclass
text problem (botocore's sagemaker model: AutoMLMetricEnum, AutoMLMode, MaxCandidates), and the plan
hands the same settings to the SageMaker request and to the local search."""

from __future__ import annotations

import botocore.session
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagespec.errors import SpecError
from sagespec.plan import PREPROCESS_STEP, TRAIN_STEP, build_plan
from sagespec.spec import load_spec_text
from sagespec.spec.models import AutopilotModel

from ..conftest import SPECS

EXAMPLE = (SPECS / "womens-clothing-autopilot.yaml").read_text()
SERVICE = botocore.session.get_session().get_service_model("sagemaker")
# Binary-only objectives and the regression/forecasting ones: never right for a multiclass problem.
MULTICLASS = {"Accuracy", "BalancedAccuracy", "F1macro", "PrecisionMacro", "RecallMacro"}


def findings(text: str) -> dict[str, str]:
    try:
        loaded = load_spec_text(text, SPECS / "womens-clothing-autopilot.yaml")
    except SpecError as exc:
        return {issue.path: issue.message for issue in exc.issues + exc.warnings}
    return {warning.path: warning.message for warning in loaded.warnings}


def with_model_line(old: str, new: str) -> str:
    assert EXAMPLE.count(old) == 1, old
    return EXAMPLE.replace(old, new)


def test_the_example_is_clean() -> None:
    assert findings(EXAMPLE) == {}


@pytest.mark.parametrize(
    ("old", "new", "path", "fragment"),
    [
        ("  mode: ENSEMBLING ", "  mode: HYPERPARAMETER_TUNING ", "model.mode", "only ENSEMBLING"),
        ("  mode: ENSEMBLING ", "  mode: AUTO ", "model.mode", "only ENSEMBLING"),
        ("  mode: ENSEMBLING ", "  mode: ensembling ", "model.mode", "ENSEMBLING"),
        ("  objective: Accuracy ", "  objective: F1 ", "model.objective", "F1macro"),
        ("  objective: Accuracy ", "  objective: AUC ", "model.objective", "Accuracy"),
        ("  max_candidates: 3 ", "  max_candidates: 0 ", "model.max_candidates", "at least 1"),
        ("  max_candidates: 3 ", "  max_candidates: 751 ", "model.max_candidates", "MaxCandidates"),
        (
            "  max_runtime_per_training_job_seconds: 1200\n",
            "  max_runtime_per_training_job_seconds: 9000\n",
            "model.max_runtime_per_training_job_seconds",
            "max_total_runtime_seconds",
        ),
        (
            "  max_total_runtime_seconds: 7200\n",
            "  max_total_runtime_seconds: 0\n",
            "model.max_total_runtime_seconds",
            "at least 1",
        ),
        (
            "  max_total_runtime_seconds: 7200\n",
            "  max_total_runtime_seconds: 7200\n  instance_type: ml.m5.xlarge\n",
            "model.instance_type",
            "",
        ),
    ],
)
def test_bad_settings_are_refused_at_their_field(old: str, new: str, path: str, fragment: str) -> None:
    found = findings(with_model_line(old, new))
    assert path in found, found
    assert fragment in found[path]


def test_tuning_an_automl_job_is_refused() -> None:
    tuned = EXAMPLE.replace(
        "evaluation:\n",
        "tuning:\n  objective: {metric: 'validation:objective'}\n"
        "  ranges: {epochs: {type: integer, min: 1, max: 5}}\n\nevaluation:\n",
        1,
    )
    assert "tuning" in findings(tuned)


def test_the_objectives_are_botocores_multiclass_ones() -> None:
    """Every objective the spec offers is in the API's enum, and it offers every multiclass one."""
    enum = set(SERVICE.shape_for("AutoMLMetricEnum").enum)
    offered = set(AutopilotModel.model_fields["objective"].annotation.__args__)
    assert offered == MULTICLASS <= enum
    modes = set(AutopilotModel.model_fields["mode"].annotation.__args__)
    assert modes == set(SERVICE.shape_for("AutoMLMode").enum)


@settings(max_examples=25, deadline=None)
@given(objective=st.sampled_from(sorted(SERVICE.shape_for("AutoMLMetricEnum").enum)))
def test_an_objective_is_accepted_exactly_when_it_suits_a_multiclass_problem(objective: str) -> None:
    found = findings(with_model_line("  objective: Accuracy ", f"  objective: {objective} "))
    assert ("model.objective" not in found) == (objective in MULTICLASS)


@settings(max_examples=30, deadline=None)
@given(
    candidates=st.integers(-5, 1000),
    per_job=st.integers(-5, 3_000_000),
    total=st.integers(-5, 3_000_000),
)
def test_limits_are_the_apis(candidates: int, per_job: int, total: int) -> None:
    text = with_model_line("  max_candidates: 3 ", f"  max_candidates: {candidates} ")
    text = text.replace("per_training_job_seconds: 1200", f"per_training_job_seconds: {per_job}")
    text = text.replace("max_total_runtime_seconds: 7200", f"max_total_runtime_seconds: {total}")
    found = findings(text)
    assert ("model.max_candidates" in found) == (not 1 <= candidates <= 750)
    assert ("model.max_total_runtime_seconds" in found) == (not 1 <= total <= 2_592_000)
    per_job_fits = 1 <= per_job <= 2_419_200
    # The cross-field rule reads a model section whose fields are each valid.
    section_valid = per_job_fits and 1 <= total <= 2_592_000 and 1 <= candidates <= 750
    refused = "model.max_runtime_per_training_job_seconds" in found
    assert refused == (not per_job_fits or (section_valid and per_job > total))


def test_the_plan_hands_the_automl_settings_on() -> None:
    loaded = load_spec_text(EXAMPLE, SPECS / "womens-clothing-autopilot.yaml")
    plan = build_plan(loaded.spec)
    preprocess = plan.step(PREPROCESS_STEP).arguments
    assert preprocess[preprocess.index("--output-format") + 1] == "csv"
    train = plan.step(TRAIN_STEP)
    assert train.kind == "training" and train.script is None
    assert train.hyperparameters == {
        "max_candidates": "3",
        "objective": "Accuracy",
        "mode": "ENSEMBLING",
        "max_runtime_per_training_job_seconds": "1200",
        "max_total_runtime_seconds": "7200",
        "target": "label",
    }
    assert {i.destination for i in train.inputs} == {"train", "validation"}
