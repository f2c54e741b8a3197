"""Template context for the SageMaker Studio project template (Service Catalog product)."""

from __future__ import annotations

from typing import Any

from ..spec.models import Spec


def studio_context(spec: Spec) -> dict[str, Any]:
    return {"studio_enabled": spec.studio.enabled}
