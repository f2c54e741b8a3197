"""The deployment: the endpoint stack as API requests, deploy/ against moto, and the inference handler.

No AWS account is needed. Every request deploy/cli.py and deploy/build_config.py send is checked
against botocore's model of that request (ParamValidator, plus the enums and patterns it leaves out)
before moto answers it. The resources of deploy/endpoint.yaml are turned into the API requests
CloudFormation makes for them and checked the same way, then created in moto.

moto 5.2.5 checks endpoint instance types against an old list (it rejects ml.g5, ml.g6, ml.inf2...):
requests are validated with the spec's instance types, then sent to moto with ml.m5.large, which it
knows.
"""

from __future__ import annotations

import copy
import importlib
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
import yaml

from deploy import build_config, cli
from deploy.settings import (
    AUTOSCALING,
    CLASSES,
    DATA_CAPTURE_PREFIX,
    ENDPOINT_NAMES,
    ERROR_ALARM_NAME,
    MODEL_PACKAGE_GROUP,
    MODEL_TYPE,
    MONITORS,
    REGION,
    SHADOWS,
    STAGES,
    VARIANTS,
)
from tests.api_requests import request_problems
from tests.conftest import IMAGE, RequestLog, register_packages

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
ROLE_ARN = "arn:aws:iam::123456789012:role/SageMakerExecutionRole"
BUCKET = "sagespec-test-bucket"
MOTO_INSTANCE_TYPE = "ml.m5.large"  # an endpoint instance type moto 5.2.5 accepts
MONITORING_ROLE_ARN = "arn:aws:iam::123456789012:role/ModelMonitorRole"
# What a model package's DriftCheckBaselines holds for each monitor, as the pipeline registers it.
DRIFT_CHECK_BASELINES = {
    "data-quality": {
        "ModelDataQuality": {
            kind: {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/baselines/data/{kind}.json"}
            for kind in ("Statistics", "Constraints")
        }
    },
    "model-quality": {
        "ModelQuality": {
            kind: {"ContentType": "application/json", "S3Uri": f"s3://{BUCKET}/baselines/model/{kind}.json"}
            for kind in ("Statistics", "Constraints")
        }
    },
}
NO_VALUE = object()  # what !Ref AWS::NoValue leaves: the property is dropped


def _package_dir() -> Path:
    """pipelines/<package>/: the project's one pipeline package, the one with the inference handler."""
    (path,) = (ROOT / "pipelines").glob("*/inference.py")
    return path.parent


def _pipeline_module(name: str) -> ModuleType:
    """A module of the pipeline package. The step scripts run as top-level scripts in their containers,
    importing the modules beside them (preprocess.py imports prepare), so their folder is on sys.path."""
    folder = str(_package_dir())
    if folder not in sys.path:
        sys.path.append(folder)
    return importlib.import_module(f"pipelines.{_package_dir().name}.{name}")


# ---------------------------------------------------------------------------------------------- the stack


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads !Ref, !GetAtt, !Sub, !If... as the JSON form of the intrinsic functions."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template() -> dict[str, Any]:
    return yaml.load((DEPLOY / "endpoint.yaml").read_text(), Loader=_CloudFormationLoader)


def stage_parameters(stage: str) -> dict[str, str]:
    """The stage's parameters as the deploy build exports them (models filled in with test values)."""
    parameters = dict(json.loads((DEPLOY / f"{stage}-config.json").read_text())["Parameters"])
    parameters["ExecutionRoleArn"] = ROLE_ARN
    for i, variant in enumerate([*VARIANTS, *SHADOWS], start=1):
        parameters[variant["parameters"]["model_package"]] = (
            f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{MODEL_PACKAGE_GROUP}/{i}"
        )
    if "DataCaptureS3Uri" in parameters and not parameters["DataCaptureS3Uri"]:
        parameters["DataCaptureS3Uri"] = f"s3://{BUCKET}/{DATA_CAPTURE_PREFIX}/{stage}"
    if MONITORS:
        parameters |= build_config.stage_monitoring_parameters(stage, BUCKET)
        parameters["MonitoringRoleArn"] = MONITORING_ROLE_ARN
        parameters["MonitorImageUri"] = build_config.monitor_image_uri(REGION)
        parameters["RecordPreprocessorS3Uri"] = f"s3://{BUCKET}/code/monitoring_features.py"
        for monitor in MONITORS:
            for name, (entry, kind) in build_config.MONITOR_PARAMETERS[monitor].items():
                parameters[name] = DRIFT_CHECK_BASELINES[monitor][entry][kind]["S3Uri"]
    return parameters


class Stack:
    """Resolves the template's intrinsic functions for one set of parameters."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, str]) -> None:
        declared = template["Parameters"]
        self.parameters: dict[str, Any] = {}
        for name, declaration in declared.items():
            value = parameters.get(name, declaration.get("Default"))
            assert value is not None, f"no value for the stack parameter {name}"
            self.parameters[name] = float(value) if declaration["Type"] == "Number" else value
            if declaration["Type"] == "Number" and self.parameters[name].is_integer():
                self.parameters[name] = int(self.parameters[name])
        self.names = {
            logical: (
                parameters["EndpointName"] if resource["Type"] == "AWS::SageMaker::Endpoint" else logical
            )
            for logical, resource in template["Resources"].items()
        }
        self.conditions = {name: self.evaluate(c) for name, c in template.get("Conditions", {}).items()}

    def evaluate(self, condition: dict[str, Any]) -> bool:
        ((function, argument),) = condition.items()
        if function == "Fn::Not":
            return not self.evaluate(argument[0])
        if function == "Fn::Equals":
            left, right = (self.resolve(a) for a in argument)
            return left == right
        raise AssertionError(f"the test does not evaluate {function}")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1 and next(iter(value)).startswith(("Ref", "Fn::")):
            ((function, argument),) = value.items()
            if function == "Ref":
                if argument == "AWS::NoValue":
                    return NO_VALUE
                return self.parameters[argument] if argument in self.parameters else self.names[argument]
            if function == "Fn::GetAtt":
                return self.names[argument[0]]
            if function == "Fn::If":
                name, if_true, if_false = argument
                return self.resolve(if_true if self.conditions[name] else if_false)
            if function == "Fn::Sub":
                return re.sub(r"\$\{([\w:.]+)\}", lambda m: str(self.resolve_name(m.group(1))), argument)
            raise AssertionError(f"the test does not resolve {function}")
        if isinstance(value, dict):
            resolved = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in resolved.items() if item is not NO_VALUE}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value

    def resolve_name(self, name: str) -> Any:
        logical = name.split(".", 1)[0]
        return self.parameters[name] if name in self.parameters else self.names[logical]


def stack_requests(stage: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The API requests CloudFormation makes to create the stage's stack, in template order."""
    template = load_template()
    stack = Stack(template, stage_parameters(stage))
    requests: list[tuple[str, str, dict[str, Any]]] = []
    targets: dict[str, dict[str, Any]] = {}
    for logical, resource in template["Resources"].items():
        props = stack.resolve(resource.get("Properties", {}))
        kind = resource["Type"]
        if kind == "AWS::SageMaker::Model":
            requests.append(("sagemaker", "CreateModel", {"ModelName": stack.names[logical], **props}))
        elif kind == "AWS::SageMaker::EndpointConfig":
            name = {"EndpointConfigName": stack.names[logical]}
            requests.append(("sagemaker", "CreateEndpointConfig", {**name, **props}))
        elif kind == "AWS::SageMaker::Endpoint":
            update_only = ("RetainAllVariantProperties", "ExcludeRetainedVariantProperties")
            create = {key: value for key, value in props.items() if key not in update_only}
            requests.append(("sagemaker", "CreateEndpoint", create))
            # What a stack update sends: the retention settings apply only there.
            update = {
                key: props[key]
                for key in ("EndpointName", "EndpointConfigName", *update_only)
                if key in props
            }
            if "DeploymentConfig" in props:
                update["DeploymentConfig"] = props["DeploymentConfig"]
            requests.append(("sagemaker", "UpdateEndpoint", update))
        elif kind == "AWS::ApplicationAutoScaling::ScalableTarget":
            targets[logical] = props
            requests.append(("application-autoscaling", "RegisterScalableTarget", props))
        elif kind == "AWS::ApplicationAutoScaling::ScalingPolicy":
            target = targets[resource["Properties"]["ScalingTargetId"]["Ref"]]
            policy = {key: value for key, value in props.items() if key != "ScalingTargetId"}
            for key in ("ServiceNamespace", "ResourceId", "ScalableDimension"):
                policy[key] = target[key]
            requests.append(("application-autoscaling", "PutScalingPolicy", policy))
        elif kind == "AWS::CloudWatch::Alarm":
            requests.append(("cloudwatch", "PutMetricAlarm", props))
        elif kind.endswith("QualityJobDefinition"):  # Data- and ModelQualityJobDefinition
            operation = "Create" + kind.rsplit("::", 1)[1]
            requests.append(("sagemaker", operation, {"JobDefinitionName": stack.names[logical], **props}))
        elif kind == "AWS::SageMaker::MonitoringSchedule":
            requests.append(("sagemaker", "CreateMonitoringSchedule", props))
        else:
            raise AssertionError(f"{logical}: the test does not know the requests of a {kind}")
    return requests


def _for_moto(params: dict[str, Any]) -> dict[str, Any]:
    params = copy.deepcopy(params)
    for variant in params.get("ProductionVariants", []):
        if "InstanceType" in variant:
            variant["InstanceType"] = MOTO_INSTANCE_TYPE
    return params


def _client_method(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


@pytest.mark.parametrize("stage", STAGES)
def test_the_stack_parameters_fit_the_template(stage: str) -> None:
    template = load_template()
    declared = template["Parameters"]
    parameters = stage_parameters(stage)
    assert set(parameters) <= set(declared), "CloudFormation refuses parameters the template lacks"
    assert {name for name, d in declared.items() if "Default" not in d} <= set(parameters)
    assert parameters["EndpointName"] == ENDPOINT_NAMES[stage]
    for name, value in parameters.items():
        pattern = declared[name].get("AllowedPattern")
        assert pattern is None or re.fullmatch(pattern, value), f"{name}={value!r} does not match {pattern}"


@pytest.mark.parametrize("stage", STAGES)
def test_the_stack_resources_are_valid_api_requests(stage: str) -> None:
    requests = stack_requests(stage)
    for service_name, operation, params in requests:
        problems = request_problems(service_name, operation, params)
        assert not problems, (operation, problems)
    config = next(p for _, op, p in requests if op == "CreateEndpointConfig")
    assert [v["VariantName"] for v in config["ProductionVariants"]] == [v["name"] for v in VARIANTS]
    # A shadow's share of the production variant's requests is its weight over the production variant's.
    shadows = config.get("ShadowProductionVariants", [])
    assert [(v["VariantName"], v["InitialVariantWeight"]) for v in shadows] == [
        (s["name"], s["weight"]) for s in SHADOWS
    ]
    for shadow in SHADOWS:
        assert shadow["sampling_percent"] == min(100, round(100 * shadow["weight"] / VARIANTS[0]["weight"]))
    assert [v["InitialVariantWeight"] for v in config["ProductionVariants"]] == [
        v["weight"] for v in VARIANTS
    ]
    policies = [p for _, op, p in requests if op == "PutScalingPolicy"]
    assert {p["ResourceId"].rsplit("/", 1)[1] for p in policies} == set(AUTOSCALING)
    # One 5xx alarm per variant, named as deploy/smoke_test.py looks for it.
    alarms = [p["AlarmName"] for _, op, p in requests if op == "PutMetricAlarm"]
    endpoint = ENDPOINT_NAMES[stage]
    assert alarms == [ERROR_ALARM_NAME.format(endpoint=endpoint, variant=v["name"]) for v in VARIANTS]
    # One Model Monitor schedule per monitor, on this endpoint, running its job definition.
    schedules = {p["MonitoringScheduleName"]: p for _, op, p in requests if op == "CreateMonitoringSchedule"}
    assert sorted(schedules) == sorted(build_config.monitoring_schedule_name(endpoint, m) for m in MONITORS)
    definitions = {p["JobDefinitionName"]: p for _, op, p in requests if op.endswith("JobDefinition")}
    for schedule in schedules.values():
        config = schedule["MonitoringScheduleConfig"]
        definition = definitions[config["MonitoringJobDefinitionName"]]
        job_input = definition[config["MonitoringType"] + "JobInput"]
        assert job_input["EndpointInput"]["EndpointName"] == endpoint


def test_the_stack_and_the_cli_against_moto(
    session: tuple[boto3.Session, RequestLog], tmp_path: Path, capsys
) -> None:
    boto, log = session
    for service_name, operation, params in stack_requests("staging"):
        if operation in ("UpdateEndpoint", "CreateMonitoringSchedule"):
            continue  # moto 5.2.5 lacks these; their requests were validated above
        getattr(boto.client(service_name), _client_method(operation))(**_for_moto(params))
    endpoint = ENDPOINT_NAMES["staging"]
    names = [v["name"] for v in VARIANTS]

    assert cli.main(["describe"], session=boto) == 0
    assert cli.main(["invoke", "Lovely dress", "--target-variant", names[-1]], session=boto) == 0
    bodies = [params["Body"] for _, operation, params in log.requests if operation == "InvokeEndpoint"]
    if MODEL_TYPE == "blazingtext":
        # The BlazingText image gets the tokens preprocess.py wrote, is asked for every class, and reads
        # no CSV.
        assert json.loads(bodies[0]) == {"instances": ["lovely dress"], "configuration": {"k": len(CLASSES)}}
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["invoke", "Too small", "--content-type", "csv"], session=boto)
        assert exit_info.value.code == 2 and "JSON only" in capsys.readouterr().err
    elif MODEL_TYPE == "autopilot":  # Autopilot's container reads CSV only: one text per line
        assert bodies == [b"Lovely dress\n"]
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["invoke", "Too small", "--content-type", "json"], session=boto)
        assert exit_info.value.code == 2 and "CSV only" in capsys.readouterr().err
    else:  # inference.py's TensorFlow Serving handlers read the text itself, as JSON or CSV
        assert cli.main(["invoke", "Too small, sadly", "--content-type", "csv"], session=boto) == 0
        bodies = [params["Body"] for _, operation, params in log.requests if operation == "InvokeEndpoint"]
        assert bodies == [b'{"instances": ["Lovely dress"]}', b'"Too small, sadly"\n']
    weights = ",".join(f"{name}={1 if i == len(names) - 1 else 0}" for i, name in enumerate(names))
    assert cli.main(["shift", "--weights", weights], session=boto) == 0
    described = boto.client("sagemaker").describe_endpoint(EndpointName=endpoint)
    assert [v["DesiredWeight"] for v in described["ProductionVariants"]] == [0.0] * (len(names) - 1) + [1.0]

    variant = next(iter(AUTOSCALING), names[0])
    assert (
        cli.main(
            ["autoscale", "--variant", variant, "--min", "1", "--max", "3", "--target", "50"], session=boto
        )
        == 0
    )
    policies = boto.client("application-autoscaling").describe_scaling_policies(ServiceNamespace="sagemaker")
    assert any(
        p["ResourceId"] == f"endpoint/{endpoint}/variant/{variant}"
        and p["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 50.0
        for p in policies["ScalingPolicies"]
    )

    now = datetime.now(UTC) - timedelta(minutes=2)
    boto.client("cloudwatch").put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [
                    {"Name": "EndpointName", "Value": endpoint},
                    {"Name": "VariantName", "Value": name},
                ],
                "Timestamp": now,
                "Value": value,
            }
            for name in names
            for metric, value in (
                ("Invocations", 10.0),
                ("ModelLatency", 2500.0),
                ("Invocation5XXErrors", 1.0),
            )
        ],
    )
    chart = tmp_path / "metrics.png"
    capsys.readouterr()
    assert cli.main(["metrics", "--minutes", "10", "--chart", str(chart)], session=boto) == 0
    table = capsys.readouterr().out
    assert all(name in table for name in names) and "2.50" in table  # 2,500 microseconds
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert not log.problems, log.problems
    for operation in (
        "DescribeEndpoint",
        "InvokeEndpoint",
        "UpdateEndpointWeightsAndCapacities",
        "RegisterScalableTarget",
        "PutScalingPolicy",
        "GetMetricData",
    ):
        assert operation in log.operations()


def test_the_cli_refuses_unknown_variants_and_bad_weights(capsys) -> None:
    for argv in (
        ["shift", "--weights", "Nope=1"],
        ["shift", "--weights", f"{VARIANTS[0]['name']}=x"],
        ["invoke", "hi", "--target-variant", "Nope"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv, session=boto3.Session(region_name=REGION))
        assert exit_info.value.code == 2
    assert "no variant named 'Nope'" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- deploy build


def _drift_check_baselines() -> dict[str, Any]:
    return {entry: files for m in MONITORS for entry, files in DRIFT_CHECK_BASELINES[m].items()}


def test_build_config_picks_each_variants_package(
    session: tuple[boto3.Session, RequestLog], tmp_path: Path
) -> None:
    boto, log = session
    sagemaker = boto.client("sagemaker")
    pinned = [v["version"] for v in VARIANTS if v["select"] == "version"]
    count = max([3, *pinned])
    # Every version approved but the newest, which waits for approval.
    arns = register_packages(
        sagemaker,
        MODEL_PACKAGE_GROUP,
        ["Approved"] * (count - 1) + ["PendingManualApproval"],
        bucket=BUCKET,
        # What the pipeline's baseline steps register, for the monitoring schedules.
        drift_check_baselines=_drift_check_baselines(),
    )
    expected = {"latest-approved": count - 1, "newest": count}
    s3 = boto.client("s3")
    s3.create_bucket(Bucket=BUCKET)

    monitoring = ["--monitoring-role", MONITORING_ROLE_ARN] if MONITORS else []
    args = build_config.parse_args(
        [
            "--model-execution-role",
            ROLE_ARN,
            "--artifact-bucket",
            BUCKET,
            "--output-dir",
            str(tmp_path),
            "--project-name",
            "reviews",
            "--project-id",
            "p-123",
            *monitoring,
        ]
    )
    written = build_config.run(args, sagemaker, s3)
    assert [p.name for p in written] == ["endpoint.yaml", *(f"{s}-config-export.json" for s in STAGES)]
    for stage in STAGES:
        config = json.loads((tmp_path / f"{stage}-config-export.json").read_text())
        parameters = config["Parameters"]
        assert parameters["ExecutionRoleArn"] == ROLE_ARN
        for variant in [*VARIANTS, *SHADOWS]:
            version = variant["version"] if variant["select"] == "version" else expected[variant["select"]]
            names = variant["parameters"]
            assert parameters[names["model_package"]] == arns[version - 1]
        if MONITORS:
            _assert_monitoring_parameters(parameters, stage, s3)
        if DATA_CAPTURE_PREFIX:
            assert parameters["DataCaptureS3Uri"] == f"s3://{BUCKET}/{DATA_CAPTURE_PREFIX}/{stage}"
        assert config["Tags"]["sagemaker:project-id"] == "p-123"
    assert not log.problems, log.problems


def test_selection_rules() -> None:
    def summary(version: int, status: str, state: str = "Completed") -> dict[str, Any]:
        return {
            "ModelPackageVersion": version,
            "ModelApprovalStatus": status,
            "ModelPackageStatus": state,
            "ModelPackageArn": f"arn/{version}",
        }

    packages = [
        summary(1, "Approved"),
        summary(2, "Rejected"),
        summary(3, "PendingManualApproval"),
        summary(4, "Approved", "Failed"),
    ]
    pick = build_config.select_package
    assert pick(packages, {"name": "A", "select": "latest-approved"})["ModelPackageVersion"] == 1
    assert pick(packages, {"name": "A", "select": "newest"})["ModelPackageVersion"] == 3
    assert pick(packages, {"name": "A", "select": "version", "version": 3})["ModelPackageVersion"] == 3
    with pytest.raises(build_config.BuildConfigError, match="rejected"):
        pick(packages, {"name": "A", "select": "version", "version": 2})
    with pytest.raises(build_config.BuildConfigError, match="no version 9"):
        pick(packages, {"name": "A", "select": "version", "version": 9})
    with pytest.raises(build_config.BuildConfigError, match="no approved"):
        pick(packages[1:3], {"name": "A", "select": "latest-approved"})


# ---------------------------------------------------------------------------------------------- handler


@pytest.mark.parametrize(
    "text",
    [
        "Love it!! Fits &amp; flatters",
        "don't   buy\nit",
        "Tiny...  5'2\" & 110 lbs",
        "It's \u201cok\u201d \u2014 meh",
    ],
)
def test_the_handler_prepares_text_as_preprocess_did(text: str) -> None:
    handler, preprocess = _pipeline_module("inference"), _pipeline_module("preprocess")
    assert handler.clean_text(text) == preprocess.clean_text(text)
    if (_package_dir() / "blazingtext_format.py").is_file():  # the BlazingText model's training lines
        training_format = _pipeline_module("blazingtext_format")
        assert handler.blazingtext_tokens(text) == training_format.blazingtext_tokens(text)


def test_request_and_response_formats() -> None:
    handler = _pipeline_module("inference")
    assert handler.input_fn(json.dumps({"instances": ["a", "b"]}), "application/json") == ["a", "b"]
    assert handler.input_fn(json.dumps({"inputs": "a"}), "application/json; charset=utf-8") == ["a"]
    assert handler.input_fn(b'one, two\n"three, ""four"""\n', "text/csv") == ["one, two", 'three, "four"']
    for body, content_type in (
        ("{", "application/json"),
        ('{"text": "a"}', "application/json"),
        ('{"instances": [1]}', "application/json"),
        ("", "text/csv"),
        ("x" * 200_000, "text/csv"),  # one field over the csv module's limit: a 400, not a 500
    ):
        with pytest.raises(ValueError):
            handler.input_fn(body, content_type)
    with pytest.raises(handler.UnsupportedContentType):
        handler.input_fn("a", "application/xml")
    # The body itself: the Hugging Face inference toolkit sends what output_fn returns, as it is.
    body = handler.output_fn([{"label": "1", "probabilities": {"1": 1.0}}], "application/json")
    assert isinstance(body, str) and json.loads(body)["predictions"][0]["label"] == "1"
    with pytest.raises(handler.UnsupportedContentType):
        handler.output_fn([], "text/html")


def test_the_handler_serves_a_blazingtext_artifact(tmp_path: Path) -> None:
    fasttext = pytest.importorskip("fasttext")
    handler = _pipeline_module("inference")
    lines = ["__label__pos great lovely dress\n", "__label__neg awful cheap fit\n"] * 30
    (tmp_path / "train.txt").write_text("".join(lines))
    model = fasttext.train_supervised(
        str(tmp_path / "train.txt"), epoch=20, dim=8, bucket=1000, thread=1, seed=1
    )
    model.save_model(str(tmp_path / "model.bin"))

    loaded = handler.model_fn(str(tmp_path))
    predictions = handler.predict_fn(handler.input_fn('{"instances": ["GREAT dress!", "Awful."]}'), loaded)
    assert [p["label"] for p in predictions] == ["pos", "neg"]
    assert all(sum(p["probabilities"].values()) == pytest.approx(1, abs=1e-3) for p in predictions)


def test_the_handler_serves_a_bert_artifact(tmp_path: Path) -> None:
    if (_package_dir() / "token_arrays_format.py").is_file():
        pytest.skip("PyTorch BERT: test_step_scripts.py serves train.py's export through this handler")
    pytest.importorskip("tensorflow")
    transformers = pytest.importorskip("transformers")
    handler = _pipeline_module("inference")
    words = ["love", "this", "dress", "awful", "fit"]
    (tmp_path / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n"
    )
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    config = transformers.BertConfig(
        vocab_size=len(words) + 5,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=3,
    )
    model = transformers.TFBertForSequenceClassification(config)
    model(model.dummy_inputs)
    export = tmp_path / "model"
    model.save_pretrained(str(export))
    tokenizer.save_pretrained(str(export))
    (export / "labels.json").write_text(json.dumps({"classes": [-1, 0, 1], "max_seq_length": 6}))
    texts = ["Love this dress", "awful fit, awful", "love this dress, love   this dress"]

    # Serving tokenizes with `tokenizers` alone: the same ids and mask as the fast tokenizer, truncated
    # where training truncated.
    expected = tokenizer([handler.clean_text(t) for t in texts], truncation=True, max_length=6, padding=True)
    encoder = handler.TextEncoder.load(export)
    assert encoder.encode(texts) == (expected["input_ids"], expected["attention_mask"])

    predictions = handler.predict_fn(texts, handler.model_fn(str(export)))  # the Hugging Face model
    assert len(predictions) == 3
    for prediction in predictions:
        assert set(prediction["probabilities"]) == {"-1", "0", "1"}
        assert prediction["label"] == max(prediction["probabilities"], key=prediction["probabilities"].get)
        assert sum(prediction["probabilities"].values()) == pytest.approx(1, abs=1e-4)

    if (_package_dir() / "tfrecord_format.py").is_file():  # train.py is TensorFlow's
        # With train.py's SavedModel in the export, the handler serves that, with the same answers.
        train = _pipeline_module("train")
        classifier = train.SequenceClassifier(model, "cls", num_classes=3)
        train.save_serving_signature(classifier, export / "saved_model" / "1")
        served = handler.predict_fn(texts, handler.model_fn(str(export)))
        for ours, theirs in zip(served, predictions, strict=True):
            for label, probability in ours["probabilities"].items():
                assert probability == pytest.approx(theirs["probabilities"][label], abs=1e-4)


def _pytorch_export(folder: Path, pooling: str) -> Path:
    """What train.py (PyTorch) exports, from a 1-layer BERT: the encoder, the head, tokenizer, labels.json."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from safetensors.torch import save_file

    words = ["love", "this", "dress", "awful", "fit"]
    (folder / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n"
    )
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    config = transformers.BertConfig(
        vocab_size=len(words) + 5,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    torch.manual_seed(0)
    export = folder / "model"
    transformers.BertModel(config, add_pooling_layer=False).save_pretrained(str(export))
    tokenizer.save_pretrained(str(export))
    head = torch.nn.Linear(config.hidden_size, 3)
    save_file(
        {name: value.contiguous() for name, value in head.state_dict().items()},
        str(export / "classifier.safetensors"),
    )
    labels = {"classes": [-1, 0, 1], "max_seq_length": 6, "pad_token_id": 0, "pooling": pooling}
    (export / "labels.json").write_text(json.dumps(labels))
    return export


def _pytorch_reference(export: Path, texts: list[str], clean: Any) -> list[list[float]]:
    """Class probabilities by train.py's TextClassifier forward pass, each text on its own (no padding)."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    labels = json.loads((export / "labels.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(str(export))
    encoder = AutoModel.from_pretrained(str(export), add_pooling_layer=False).eval()
    head = torch.nn.Linear(16, 3)
    head.load_state_dict(load_file(str(export / "classifier.safetensors")))
    rows = []
    with torch.no_grad():
        for text in texts:
            ids = tokenizer(
                clean(text), truncation=True, max_length=labels["max_seq_length"], return_tensors="pt"
            )
            hidden = encoder(**ids).last_hidden_state[0]
            pooled = hidden.mean(0) if labels["pooling"] == "mean" else hidden[0]
            rows.append(torch.softmax(head(pooled), -1).tolist())
    return rows


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_the_handler_serves_a_pytorch_bert_artifact(tmp_path: Path, pooling: str) -> None:
    export = _pytorch_export(tmp_path, pooling)
    handler = _pipeline_module("inference")
    model = handler.model_fn(str(export))
    assert model.kind == "bert" and model.classes == ["-1", "0", "1"]

    # More texts than one forward pass takes, of different lengths, some cut at max_seq_length.
    texts = ["Love this dress", "awful fit, awful", "love this dress, love   this dress", "fit"]
    texts = [f"{text} {'dress ' * (i % 7)}" for i, text in enumerate(texts * 20)]
    assert len(texts) > handler.BATCH_SIZE
    # The chain the Hugging Face inference toolkit (the PyTorch endpoint's image) runs; it sends the body
    # output_fn returns as it is.
    body = handler.output_fn(
        handler.predict_fn(handler.input_fn(json.dumps({"instances": texts}), "application/json"), model),
        "application/json",
    )
    predictions = json.loads(body)["predictions"]
    csv_body = "".join('"' + text.replace('"', '""') + '"\n' for text in texts)
    assert handler.predict_fn(handler.input_fn(csv_body, "text/csv"), model) == predictions

    # The answer for a text does not depend on the batch it came in (padding is masked out).
    reference = _pytorch_reference(export, texts, handler.clean_text)
    for prediction, expected in zip(predictions, reference, strict=True):
        assert list(prediction["probabilities"]) == ["-1", "0", "1"]
        assert list(prediction["probabilities"].values()) == pytest.approx(expected, abs=1e-5)
        assert prediction["label"] == max(prediction["probabilities"], key=prediction["probabilities"].get)


def test_the_handler_imports_no_framework_until_a_model_needs_it() -> None:
    """SageMaker's images and `make serve` import inference.py for every model kind: loading the handler
    must not import PyTorch or TensorFlow (neither is installed where the other serves)."""
    script = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('inference', sys.argv[1])\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(sorted({'torch', 'tensorflow', 'transformers'} & sys.modules.keys()))\n"
    )
    command = [sys.executable, "-c", script, str(_package_dir() / "inference.py")]
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"


def _assert_monitoring_parameters(parameters: dict[str, str], stage: str, s3: Any) -> None:
    """The schedules' parameters: the registered baselines, Model Monitor's image for the region from
    the SDK, the project's monitoring_features.py as uploaded, the monitoring role, the stage's folders."""
    from sagemaker.core import image_uris

    assert parameters["MonitoringRoleArn"] == MONITORING_ROLE_ARN
    assert parameters["MonitorImageUri"] == image_uris.retrieve("model-monitor", REGION)
    for monitor in MONITORS:
        for name, (entry, kind) in build_config.MONITOR_PARAMETERS[monitor].items():
            assert parameters[name] == DRIFT_CHECK_BASELINES[monitor][entry][kind]["S3Uri"]
    key = parameters["RecordPreprocessorS3Uri"].removeprefix(f"s3://{BUCKET}/")
    uploaded = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert uploaded == (ROOT / build_config.settings.RECORD_PREPROCESSOR).read_bytes()
    assert parameters | build_config.stage_monitoring_parameters(stage, BUCKET) == parameters
    template = load_template()["Parameters"]
    for name, value in parameters.items():
        pattern = template[name].get("AllowedPattern")
        assert pattern is None or re.fullmatch(pattern, value), (name, value)


def test_build_config_refuses_a_package_without_baselines(
    session: tuple[boto3.Session, RequestLog], tmp_path: Path
) -> None:
    if not MONITORS:
        pytest.skip("the spec monitors nothing")
    boto, _ = session
    sagemaker = boto.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName=MODEL_PACKAGE_GROUP)
    response = sagemaker.create_model_package(
        ModelPackageGroupName=MODEL_PACKAGE_GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/model.tar.gz"}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )
    with pytest.raises(build_config.BuildConfigError, match="drift-check baselines"):
        build_config.baseline_parameters(sagemaker, response["ModelPackageArn"])


def test_monitoring_schedule_names_fit_sagemaker() -> None:
    if not MONITORS:
        pytest.skip("the spec monitors nothing")
    for endpoint in ("e", "x" * 63, ENDPOINT_NAMES["prod"]):
        names = {build_config.monitoring_schedule_name(endpoint, monitor) for monitor in MONITORS}
        assert len(names) == len(MONITORS)
        for name in names:
            assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name), name
