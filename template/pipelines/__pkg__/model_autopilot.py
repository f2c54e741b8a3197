"""What Autopilot brings to the pipeline: an AutoML job instead of a training job, and its best candidate.

The job is SageMaker Autopilot's tabular AutoML (CreateAutoMLJob, "AutoML V1"), the API SageMaker
Pipelines' AutoML step runs, over PreprocessData's text,label CSV parts: a header row and the label as
the target column. The text column is detected as text; the problem is multiclass classification.
Pipelines runs AutoML steps in ENSEMBLING mode only (AutoGluon's stacked ensemble), which puts the best
candidate in one inference container: its image, model data and environment are what gets registered.

The best candidate is a container, not a file evaluate.py can load, so on SageMaker two more steps run
between the AutoML job and EvaluateModel: CreateBestModel (a SageMaker model of the best candidate's
container) and PredictTestSplit (a batch transform of it over the test split's texts, each prediction
joined to its input row). EvaluateModel then scores those predictions against the test labels, so the
condition compares the best candidate's accuracy on the same held-out rows as every other model type's.
(Locally the AutoML search's best candidate is a scikit-learn or fastText model that evaluate.py loads
itself.)

Why a step of our own and not the SDK's AutoMLStep: in SageMaker Python SDK 3.27 (the pinned version),
AutoMLStep checks that its step arguments come from ``Session.auto_ml``, which v3's Session no longer
has, so it cannot be constructed. This step emits the same pipeline step (type AutoML, the
CreateAutoMLJob request without the job name, which Pipelines sets) and the same properties
(DescribeAutoMLJobResponse).
"""

from __future__ import annotations

from typing import Any

from sagemaker.core import image_uris
from sagemaker.core.helper.pipeline_variable import PipelineVariable
from sagemaker.core.transformer import Transformer
from sagemaker.core.workflow.functions import Join
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.core.workflow.properties import Properties
from sagemaker.mlops.workflow import ModelStep, TransformStep
from sagemaker.mlops.workflow.steps import ConfigurableRetryStep, Step, StepTypeEnum
from sagemaker.serve.model_builder import ModelBuilder

from .settings import HYPERPARAMETERS, SKLEARN_FRAMEWORK_VERSION, TAGS

# Autopilot's inference containers read CSV rows of the feature columns (here: one text per row).
MODEL_CONTENT_TYPES = ["text/csv"]
# The environment of the best candidate's container that its model server needs (as the SDK's
# AutoMLStep.get_best_auto_ml_model_builder passes it on).
CONTAINER_ENVIRONMENT = (
    "MODEL_NAME",
    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT",
    "SAGEMAKER_SUBMIT_DIRECTORY",
    "SAGEMAKER_INFERENCE_SUPPORTED",
    "SAGEMAKER_INFERENCE_OUTPUT",
    "SAGEMAKER_PROGRAM",
)
# What the registered container answers for each text, as one CSV line in this order: the predicted
# label, its probability, every class's probability and the classes (SAGEMAKER_INFERENCE_SUPPORTED lists
# the keys an ensemble's container offers; by default it answers the label alone). deploy/payload.py reads
# these lines; A2I review (labeling/review_predictions.py) needs the probabilities.
INFERENCE_OUTPUT = "predicted_label,probability,probabilities,labels"
# The batch transform of the test split keeps the label alone: evaluate.py reads one prediction column.
TRANSFORM_OUTPUT = "predicted_label"


def processing_image_uri(region: str, instance_type: str) -> str:
    """The image of the data and evaluation jobs: SageMaker's scikit-learn image."""
    return image_uris.retrieve(
        "sklearn", region, version=SKLEARN_FRAMEWORK_VERSION, py_version="py3", instance_type=instance_type
    )


class AutoMLJobStep(ConfigurableRetryStep):
    """A pipeline step that runs one AutoML job (CreateAutoMLJob) and exposes DescribeAutoMLJob."""

    def __init__(self, name: str, request: dict[str, Any], depends_on: list[Step] | None = None) -> None:
        super().__init__(name, StepTypeEnum.AUTOML, depends_on=depends_on)
        self.request = request
        self._properties = Properties(step_name=name, step=self, shape_name="DescribeAutoMLJobResponse")

    @property
    def arguments(self) -> dict[str, Any]:
        return self.request

    @property
    def properties(self) -> Properties:
        return self._properties


def automl_request(
    *, train_uri: str | PipelineVariable, validation_uri: str | PipelineVariable, output_uri: str, role: str
) -> dict[str, Any]:
    """The CreateAutoMLJob request (without AutoMLJobName) from the spec's AutoML settings."""

    def channel(kind: str, uri: str | PipelineVariable) -> dict[str, Any]:
        return {
            "ChannelType": kind,
            "ContentType": "text/csv;header=present",
            "CompressionType": "None",
            "TargetAttributeName": HYPERPARAMETERS["target"],
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}},
        }

    return {
        "InputDataConfig": [channel("training", train_uri), channel("validation", validation_uri)],
        "OutputDataConfig": {"S3OutputPath": output_uri},
        "ProblemType": "MulticlassClassification",
        "AutoMLJobObjective": {"MetricName": HYPERPARAMETERS["objective"]},
        "AutoMLJobConfig": {
            "CompletionCriteria": {
                "MaxCandidates": int(HYPERPARAMETERS["max_candidates"]),
                "MaxRuntimePerTrainingJobInSeconds": int(
                    HYPERPARAMETERS["max_runtime_per_training_job_seconds"]
                ),
                "MaxAutoMLJobRuntimeInSeconds": int(HYPERPARAMETERS["max_total_runtime_seconds"]),
            },
            "Mode": HYPERPARAMETERS["mode"],
        },
        "RoleArn": role,
        "Tags": [{"Key": key, "Value": value} for key, value in TAGS.items()],
    }


def automl_step(
    name: str,
    *,
    data: dict[str, PipelineVariable],
    bucket: str,
    base_job_prefix: str,
    role: str,
    depends_on: list[Step] | None = None,
) -> AutoMLJobStep:
    """The AutoML job over PreprocessData's train and validation outputs (``data``: split -> S3 URI)."""
    request = automl_request(
        train_uri=data["train"],
        validation_uri=data["validation"],
        output_uri=f"s3://{bucket}/{base_job_prefix}/automl",
        role=role,
    )
    return AutoMLJobStep(name, request, depends_on=depends_on)


def best_candidate_container(step: AutoMLJobStep) -> dict[str, Any]:
    """The best candidate's inference container, as ModelBuilder's image_uri, s3_model_data_url and
    env_vars: what gets registered and later deployed, asked to answer with probabilities."""
    container = step.properties.BestCandidate.InferenceContainers[0]
    environment = {name: container.Environment[name] for name in CONTAINER_ENVIRONMENT}
    return {
        "image_uri": container.Image,
        "s3_model_data_url": container.ModelDataUrl,
        "env_vars": {**environment, "SAGEMAKER_INFERENCE_OUTPUT": INFERENCE_OUTPUT},
    }


def test_predictions(
    best_model: dict[str, Any],
    *,
    test_uri: str | PipelineVariable,
    output_uri: str | PipelineVariable,
    instance_type: str,
    role: str,
    pipeline_session: PipelineSession,
) -> tuple[ModelStep, TransformStep]:
    """The best candidate as a SageMaker model, and its batch transform over the test split.

    The transform reads only the test-<part>.csv files (not labels.json beside them), sends each row's
    text (InputFilter $[0]) and writes ``<row>,<predicted label>`` per line (JoinSource Input), one
    test-<part>.csv.out per part. Each part's header row is sent too; evaluate.py skips its line.
    """
    env_vars = {**best_model["env_vars"], "SAGEMAKER_INFERENCE_OUTPUT": TRANSFORM_OUTPUT}
    step_model = ModelStep(
        name="CreateBestModel",
        step_args=ModelBuilder(
            **{**best_model, "env_vars": env_vars}, role_arn=role, sagemaker_session=pipeline_session
        ).build(),
    )
    transformer = Transformer(
        model_name=step_model.properties.ModelName,
        instance_count=1,
        instance_type=instance_type,
        strategy="MultiRecord",
        assemble_with="Line",
        accept="text/csv",
        output_path=output_uri,
        sagemaker_session=pipeline_session,
        tags=[{"Key": key, "Value": value} for key, value in TAGS.items()],
    )
    step_transform = TransformStep(
        name="PredictTestSplit",
        step_args=transformer.transform(
            data=Join(on="/", values=[test_uri, "test-"]),
            content_type="text/csv",
            split_type="Line",
            input_filter="$[0]",
            join_source="Input",
        ),
    )
    return step_model, step_transform
