"""What the BlazingText model brings to the pipeline: its training job and the images around it.

The built-in BlazingText algorithm trains in supervised mode: no code of ours runs in the training job.
It reads fastText-format text files ("__label__<class> <text>" per line) from its channels.
"""

from __future__ import annotations

from sagemaker.core import image_uris
from sagemaker.core.helper.pipeline_variable import PipelineVariable
from sagemaker.core.shapes import StoppingCondition
from sagemaker.core.training.configs import Compute, InputData, OutputDataConfig
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.train import ModelTrainer

from .settings import (
    HYPERPARAMETERS,
    MAX_RUNTIME_SECONDS,
    SKLEARN_FRAMEWORK_VERSION,
    TAGS,
    VOLUME_SIZE_GB,
)

# The BlazingText image reads JSON (and JSON Lines) only.
MODEL_CONTENT_TYPES = ["application/json"]
# Built-in algorithms emit their metrics themselves: a tuning job needs no regular expressions for them.
METRIC_DEFINITIONS: list[dict[str, str]] | None = None


def processing_image_uri(region: str, instance_type: str) -> str:
    """The image of the preprocessing and evaluation jobs.

    The image is chosen when the pipeline is built, so it follows the spec's instance type, not the
    ProcessingInstanceType parameter a run may override.
    """
    # SageMaker's scikit-learn image has pandas and scikit-learn; requirements.txt adds the rest.
    return image_uris.retrieve(
        "sklearn",
        region,
        version=SKLEARN_FRAMEWORK_VERSION,
        py_version="py3",
        instance_type=instance_type,
    )


def inference_image_uri(region: str) -> str:
    """The serving image the model package records: the BlazingText image serves the model.bin it trained."""
    return image_uris.retrieve("blazingtext", region, version="1")


def build_trainer(
    *,
    region: str,
    role: str,
    bucket: str,
    base_job_prefix: str,
    instance_type: str | PipelineVariable,
    instance_count: int | PipelineVariable,
    pipeline_session: PipelineSession,
) -> ModelTrainer:
    """The training job: the BlazingText image with the spec's hyperparameters."""
    return ModelTrainer(
        training_image=image_uris.retrieve("blazingtext", region, version="1"),
        compute=Compute(
            instance_type=instance_type,
            instance_count=instance_count,
            volume_size_in_gb=VOLUME_SIZE_GB,
        ),
        stopping_condition=StoppingCondition(max_runtime_in_seconds=MAX_RUNTIME_SECONDS),
        hyperparameters=HYPERPARAMETERS,
        output_data_config=OutputDataConfig(s3_output_path=f"s3://{bucket}/{base_job_prefix}/models"),
        base_job_name=f"{base_job_prefix}-train",
        role=role,
        sagemaker_session=pipeline_session,
        # ModelTrainer takes tags as sagemaker.core.shapes.Tag, which reads dicts with lower-case keys.
        tags=[{"key": key, "value": value} for key, value in TAGS.items()],
    )


def training_channels(data: dict[str, PipelineVariable]) -> list[InputData]:
    """The train and validation channels, from PreprocessData's outputs (channel name -> S3 URI)."""
    return [
        InputData(channel_name=channel, data_source=uri, content_type="text/plain")
        for channel, uri in data.items()
    ]
