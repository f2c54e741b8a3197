"""The Autopilot steps of the pipeline (model_autopilot.py), built offline: the AutoML job runs the spec's
AutoML settings on PreprocessData's train and validation CSV parts, its best candidate becomes a model
whose batch transform predicts the test split, and evaluate.py scores those predictions. Each request is
checked against botocore's model of the API it calls."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.model import ServiceModel

from tests.api_requests import request_problems
from tests.offline_pipeline import Built, Resolver, build_offline, expressions

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(ROOT.glob("pipelines/*/evaluate.py"))[0].parent
BEST_CANDIDATE = "Steps.TrainModel.BestCandidate.InferenceContainers[0]"
# The step, the API it calls and the request field the pipeline service fills in at run time.
REQUESTS = [
    ("TrainModel", "CreateAutoMLJob", "AutoMLJobName"),
    ("CreateBestModel", "CreateModel", "ModelName"),
    ("PredictTestSplit", "CreateTransformJob", "TransformJobName"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    with build_offline(tmp_path_factory.mktemp("sagemaker")) as result:
        yield result


@pytest.fixture(scope="module")
def service() -> ServiceModel:
    return botocore.session.get_session().get_service_model("sagemaker")


def _ref(step: str, output: str) -> dict[str, str]:
    return {"Get": f"Steps.{step}.ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri"}


@pytest.mark.parametrize(("step_name", "operation", "name_field"), REQUESTS)
def test_requests_are_valid(
    built: Built, service: ServiceModel, step_name: str, operation: str, name_field: str
) -> None:
    step = built.step(step_name)
    assert name_field not in step["Arguments"], f"the pipeline service names it, not {name_field}"
    request = Resolver(built.definition, service).concretize(step["Arguments"])
    assert not list(expressions(request)), "an expression survived resolution"
    request[name_field] = "autopilot-step"
    problems = request_problems("sagemaker", operation, request)
    assert not problems, f"{step_name} is not a valid {operation} request:\n" + "\n".join(problems)


def test_automl_job_runs_the_specs_settings(built: Built) -> None:
    settings = built.settings.HYPERPARAMETERS
    step = built.step("TrainModel")
    arguments = step["Arguments"]
    assert arguments["ProblemType"] == "MulticlassClassification"
    assert arguments["AutoMLJobObjective"] == {"MetricName": settings["objective"]}
    config = arguments["AutoMLJobConfig"]
    assert config["Mode"] == settings["mode"] == "ENSEMBLING"  # the only mode Pipelines runs
    assert config["CompletionCriteria"] == {
        "MaxCandidates": int(settings["max_candidates"]),
        "MaxRuntimePerTrainingJobInSeconds": int(settings["max_runtime_per_training_job_seconds"]),
        "MaxAutoMLJobRuntimeInSeconds": int(settings["max_total_runtime_seconds"]),
    }
    channels = {channel["ChannelType"]: channel for channel in arguments["InputDataConfig"]}
    for kind, split in (("training", "train"), ("validation", "validation")):
        channel = channels[kind]
        assert channel["DataSource"]["S3DataSource"]["S3Uri"] == _ref("PreprocessData", split)
        assert channel["TargetAttributeName"] == "label"
        assert channel["ContentType"] == "text/csv;header=present"
    if built.settings.BIAS_CHECK_ENABLED:
        assert "CheckDataBias" in step.get("DependsOn", []), "the AutoML job must wait for the bias check"


def test_the_best_candidate_is_what_is_evaluated_and_registered(built: Built) -> None:
    container = built.step("CreateBestModel")["Arguments"]["PrimaryContainer"]
    assert container["Image"] == {"Get": f"{BEST_CANDIDATE}.Image"}
    assert container["ModelDataUrl"] == {"Get": f"{BEST_CANDIDATE}.ModelDataUrl"}
    transform = built.step("PredictTestSplit")["Arguments"]
    assert transform["ModelName"] == {"Get": "Steps.CreateBestModel.ModelName"}
    # Only the test-<part>.csv files (labels.json sits beside them), each text sent, each row kept.
    uri = transform["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    assert uri == {"Std:Join": {"On": "/", "Values": [_ref("PreprocessData", "test"), "test-"]}}
    assert transform["DataProcessing"] == {"InputFilter": "$[0]", "JoinSource": "Input"}
    assert transform["TransformInput"]["SplitType"] == "Line"
    (registered,) = built.step("RegisterModel")["Arguments"]["InferenceSpecification"]["Containers"]
    assert registered["Image"] == container["Image"]
    assert registered["ModelDataUrl"] == container["ModelDataUrl"]
    for name in ("MODEL_NAME", "SAGEMAKER_PROGRAM", "SAGEMAKER_SUBMIT_DIRECTORY"):
        expected = {"Get": f"{BEST_CANDIDATE}.Environment['{name}']"}
        assert registered["Environment"][name] == container["Environment"][name] == expected
    # The registered (deployed) container answers every class's probability, in the columns
    # deploy/payload.py reads; the test split's transform only the label, which evaluate.py reads.
    output = "SAGEMAKER_INFERENCE_OUTPUT"
    assert registered["Environment"][output] == "predicted_label,probability,probabilities,labels"
    assert container["Environment"][output] == "predicted_label"
    supported = {"Get": f"{BEST_CANDIDATE}.Environment['SAGEMAKER_INFERENCE_SUPPORTED']"}
    assert registered["Environment"]["SAGEMAKER_INFERENCE_SUPPORTED"] == supported


@pytest.fixture
def evaluate(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(SCRIPTS))
    spec = importlib.util.spec_from_file_location("step_evaluate", SCRIPTS / "evaluate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_evaluate_scores_the_batch_transform_output(evaluate: Any, tmp_path: Path) -> None:
    """The transform's lines (the input row, then the predicted label) are scored; each file's first
    line, the part's header row with a prediction of its own, is not."""
    predictions = tmp_path / "model"
    predictions.mkdir()
    (predictions / "test-b.csv.out").write_text('text,label,1\n"fine, I guess",0,0\n', encoding="utf-8")
    (predictions / "test-a.csv.out").write_text("text,label,-1\nawful,-1,-1\nlovely,1,0\n", encoding="utf-8")
    scorer = evaluate.predictor("autopilot", predictions)
    truth, predicted = scorer.predict(predictions, tmp_path / "test", ["-1", "0", "1"])
    assert truth == ["-1", "1", "0"]
    assert predicted == ["-1", "0", "0"]
