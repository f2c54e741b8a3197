"""Template context for the deployment files (endpoint variants, traffic shifting, autoscaling)."""

from __future__ import annotations

from typing import Any

from ..spec.models import Spec


def deployment_context(spec: Spec) -> dict[str, Any]:
    return {"deployment_enabled": spec.deployment.enabled}
