"""Template context for batch scoring on SageMaker (``batch.*``): the transform job deploy/batch.py starts
over an S3 prefix with a registered model. None when the spec has no ``batch`` section or deploys nothing
(the job serves the model as the endpoint does, through deploy/)."""

from __future__ import annotations

from dataclasses import dataclass

from ..spec.models import Spec


@dataclass(frozen=True)
class BatchGroup:
    """``batch.*``, from ``spec.batch``: the transform job's TransformResources and MaxPayloadInMB."""

    instance_type: str
    instance_count: int
    max_payload_mb: int


def batch_group(spec: Spec) -> BatchGroup | None:
    if spec.batch is None or not spec.deployment.enabled:
        return None
    return BatchGroup(
        instance_type=spec.batch.instance_type,
        instance_count=spec.batch.instance_count,
        max_payload_mb=spec.batch.max_payload_mb,
    )
