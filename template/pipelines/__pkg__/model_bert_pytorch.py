"""What the BERT model brings to the pipeline: its training job and the images around it (PyTorch).

Which images, and why:
- train.py, preprocess.py and evaluate.py run on SageMaker's PyTorch training image, not on the Hugging
  Face PyTorch training image. The Hugging Face image has GPU builds only, so the preprocessing and
  evaluation jobs (CPU instances) could not run on it, nor could a CPU training instance; and it ships its
  own transformers (4.56 with PyTorch 2.8, or 5.3), never the 4.57.6 that train.py is tested with here.
  The PyTorch image has CPU and GPU builds of one PyTorch, and requirements.txt pins transformers, so
  every job tokenizes, trains and predicts with the same versions as `make local`.
- The model package records Hugging Face's PyTorch inference image: it ships torch, transformers,
  safetensors and tokenizers, which code/inference.py needs, so the endpoint installs nothing when it
  starts and runs without network access. (SageMaker's plain PyTorch inference image has no transformers:
  it would pip-install code/requirements.txt at start-up, which needs the network.)

The training job runs under torchrun (SageMaker's distributed config): one process per GPU of each
instance, on as many instances as TrainingInstanceCount; train.py reads RANK, WORLD_SIZE and LOCAL_RANK.
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
from sagemaker.train.distributed import Torchrun

from .settings import (
    CHECKPOINT_S3_URI,
    HUGGINGFACE_INFERENCE_PY_VERSION,
    HUGGINGFACE_INFERENCE_PYTORCH_VERSION,
    HUGGINGFACE_INFERENCE_TRANSFORMERS_VERSION,
    HYPERPARAMETERS,
    INFERENCE_INSTANCE_TYPES,
    MAX_RUNTIME_SECONDS,
    METRIC_DEFINITIONS,
    PROJECT_SLUG,
    PYTORCH_PY_VERSION,
    PYTORCH_VERSION,
    SPOT_ENABLED,
    SPOT_MAX_WAIT_SECONDS,
    TAGS,
    TRAINING_INSTANCE_TYPE,
    VOLUME_SIZE_GB,
)

# This folder: the training job's code (train.py and the modules it imports, inference.py, requirements.txt).
SOURCE_DIR = str(Path(__file__).resolve().parent)
# What inference.py's handlers read.
MODEL_CONTENT_TYPES = ["application/json", "text/csv"]


def pytorch_image_uri(region: str, instance_type: str) -> str:
    """SageMaker's PyTorch training image: its GPU build when ``instance_type`` has a GPU, else its CPU build."""
    return image_uris.retrieve(
        "pytorch",
        region,
        version=PYTORCH_VERSION,
        py_version=PYTORCH_PY_VERSION,
        instance_type=instance_type,
        image_scope="training",
    )


def processing_image_uri(region: str, instance_type: str) -> str:
    """The image of the preprocessing and evaluation jobs.

    The PyTorch image of the training job, so that evaluate.py runs the model with the PyTorch it was
    trained with; requirements.txt adds transformers. The image is chosen when the pipeline is built, so
    it follows the spec's instance type, not the ProcessingInstanceType parameter a run may override.
    """
    return pytorch_image_uri(region, instance_type)


def inference_image_uri(region: str) -> str:
    """The serving image the model package records: Hugging Face's PyTorch inference image."""
    return image_uris.retrieve(
        "huggingface",
        region,
        # The newest transformers 4 the SDK lists for it (with PyTorch 2.6): the export is written by
        # transformers 4.57 and read back with AutoModel, as transformers 4 reads any BERT checkpoint.
        version=HUGGINGFACE_INFERENCE_TRANSFORMERS_VERSION,
        base_framework_version=HUGGINGFACE_INFERENCE_PYTORCH_VERSION,
        py_version=HUGGINGFACE_INFERENCE_PY_VERSION,
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
    """The training job: train.py in script mode on SageMaker's PyTorch image, launched by torchrun.

    ModelTrainer uploads this folder, installs requirements.txt and starts train.py with torchrun. The
    image is the GPU build when the spec's instance type has a GPU; a run that overrides
    TrainingInstanceType keeps the image chosen here.
    """
    return ModelTrainer(
        training_image=pytorch_image_uri(region, TRAINING_INSTANCE_TYPE),
        source_code=SourceCode(
            source_dir=SOURCE_DIR, entry_script="train.py", requirements="requirements.txt"
        ),
        # Always torchrun, even on one GPU: TrainingInstanceType and TrainingInstanceCount are pipeline
        # parameters, so the launcher must fit whatever a run chooses. torchrun starts one process per
        # GPU (one on a CPU instance) on every instance and sets RANK, WORLD_SIZE and LOCAL_RANK. The
        # tuner ships the same driver to a tuning job's training jobs (since sagemaker-python-sdk#5634).
        distributed=Torchrun(),
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
