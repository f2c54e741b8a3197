"""What the BERT model brings to the pipeline: its training job and the images around it.

train.py fine-tunes the model in script mode on SageMaker's TensorFlow image; the preprocessing and
evaluation jobs run on the same image, so that they tokenize and predict with the TensorFlow the model is
trained with.
"""

from __future__ import annotations

from pathlib import Path

from sagemaker.core import image_uris
from sagemaker.core.helper.pipeline_variable import PipelineVariable
from sagemaker.core.shapes import MetricDefinition, StoppingCondition
from sagemaker.core.training.configs import (
    CheckpointConfig,
    Compute,
    InputData,
    OutputDataConfig,
    SourceCode,
)
from sagemaker.core.workflow.execution_variables import ExecutionVariables
from sagemaker.core.workflow.functions import Join
from sagemaker.core.workflow.pipeline_context import PipelineSession
from sagemaker.train import ModelTrainer

from .settings import (
    CHECKPOINT_S3_URI,
    HYPERPARAMETERS,
    INFERENCE_INSTANCE_TYPES,
    MAX_RUNTIME_SECONDS,
    METRIC_DEFINITIONS,
    PROJECT_SLUG,
    SPOT_ENABLED,
    SPOT_MAX_WAIT_SECONDS,
    TAGS,
    TENSORFLOW_PY_VERSION,
    TENSORFLOW_VERSION,
    TRAINING_INSTANCE_TYPE,
    VOLUME_SIZE_GB,
)

# This folder: the training job's code (train.py and the modules it imports, inference.py, requirements.txt).
SOURCE_DIR = str(Path(__file__).resolve().parent)
# What inference.py's TensorFlow Serving handlers read.
MODEL_CONTENT_TYPES = ["application/json", "text/csv"]


def processing_image_uri(region: str, instance_type: str) -> str:
    """The image of the preprocessing and evaluation jobs.

    The image is chosen when the pipeline is built, so it follows the spec's instance type, not the
    ProcessingInstanceType parameter a run may override.
    """
    # The TensorFlow image of the training job (its CPU build on CPU instances), so that the scripts
    # run the TensorFlow the model is trained with; requirements.txt adds transformers.
    return image_uris.retrieve(
        "tensorflow",
        region,
        version=TENSORFLOW_VERSION,
        py_version=TENSORFLOW_PY_VERSION,
        instance_type=instance_type,
        image_scope="training",
    )


def inference_image_uri(region: str) -> str:
    """The serving image the model package records."""
    return image_uris.retrieve(
        "tensorflow",
        region,
        # The newest TensorFlow Serving image sagemaker 3.27 lists: there is no 2.21 serving image yet.
        version="2.20",
        instance_type=INFERENCE_INSTANCE_TYPES[0],
        image_scope="inference",
    )


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
    """The training job: train.py in script mode on SageMaker's TensorFlow image.

    ModelTrainer uploads this folder and runs train.py after installing requirements.txt. The image is
    the GPU build when the spec's instance type has a GPU; a run that overrides TrainingInstanceType
    keeps the image chosen here.
    """
    return ModelTrainer(
        training_image=image_uris.retrieve(
            "tensorflow",
            region,
            version=TENSORFLOW_VERSION,
            py_version=TENSORFLOW_PY_VERSION,
            instance_type=TRAINING_INSTANCE_TYPE,
            image_scope="training",
        ),
        source_code=SourceCode(
            source_dir=SOURCE_DIR, entry_script="train.py", requirements="requirements.txt"
        ),
        compute=Compute(
            instance_type=instance_type,
            instance_count=instance_count,
            volume_size_in_gb=VOLUME_SIZE_GB,
            enable_managed_spot_training=SPOT_ENABLED,
        ),
        # Managed spot: MaxWaitTimeInSeconds (capacity wait plus run time) must be >= the run time.
        stopping_condition=StoppingCondition(
            max_runtime_in_seconds=MAX_RUNTIME_SECONDS,
            max_wait_time_in_seconds=SPOT_MAX_WAIT_SECONDS if SPOT_ENABLED else None,
        ),
        # A spot interruption resumes from the last checkpoint train.py wrote to /opt/ml/checkpoints.
        # SageMaker copies everything under S3Uri into the container when a job starts, so each execution
        # gets its own prefix: a new execution must train afresh, not resume the last one's finished run.
        checkpoint_config=CheckpointConfig(
            s3_uri=Join(
                on="/",
                values=[
                    CHECKPOINT_S3_URI or f"s3://{bucket}/{PROJECT_SLUG}/checkpoints",
                    ExecutionVariables.PIPELINE_EXECUTION_ID,
                ],
            ),
        ),
        hyperparameters=HYPERPARAMETERS,
        output_data_config=OutputDataConfig(s3_output_path=f"s3://{bucket}/{base_job_prefix}/models"),
        base_job_name=f"{base_job_prefix}-train",
        role=role,
        sagemaker_session=pipeline_session,
        # ModelTrainer takes tags as sagemaker.core.shapes.Tag, which reads dicts with lower-case keys.
        tags=[{"key": key, "value": value} for key, value in TAGS.items()],
    ).with_metric_definitions(
        [MetricDefinition(name=item["Name"], regex=item["Regex"]) for item in METRIC_DEFINITIONS]
    )


def training_channels(data: dict[str, PipelineVariable]) -> list[InputData]:
    """The train and validation channels, from PreprocessData's outputs (channel name -> S3 URI).

    train.py reads the files itself, so the channels declare no content type.
    """
    return [InputData(channel_name=channel, data_source=uri) for channel, uri in data.items()]
