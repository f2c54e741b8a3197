"""Spec -> the template context: every name, ARN piece, argument list and hyperparameter map the
templates print, computed here in Python where it can be tested. Templates only present it.

The context is a few groups, one per concern, each a frozen dataclass built by the module of that
concern, so a template says where a value comes from (``{{ training.instance_type }}``,
``{{ deploy.endpoint_name }}``) and a misspelled name fails the render (Jinja's StrictUndefined):

- ``sagespec``, ``project``, ``data``, ``ci`` (:mod:`.context_project`);
- ``plan`` (the :class:`~sagespec.plan.Plan` itself) and, read from it, ``prepare``, ``preprocess``, ``bias``,
  ``training``, ``evaluation``, ``registry`` (:mod:`.context_pipeline`) and ``tuning``
  (:mod:`.context_tuning`; None when the spec does not tune);
- ``deploy`` (:mod:`.context_deploy`), ``batch`` (:mod:`.context_batch`; None without a batch section),
  ``explore`` and ``features`` (:mod:`.context_explore`),
  ``labeling`` (:mod:`.context_labeling`), ``studio`` (:mod:`.context_studio`), ``tracking``
  (:mod:`.context_tracking`; None when the spec tracks nothing), ``monitoring``
  (:mod:`.context_monitoring`; None when the spec monitors nothing).
"""

from __future__ import annotations

from typing import Any

from ..plan import build_plan
from ..spec.models import Spec
from .context_batch import batch_group
from .context_debugger import debugger_group
from .context_deploy import deploy_group
from .context_explore import explore_group, features_group
from .context_labeling import labeling_group
from .context_monitoring import monitoring_group
from .context_pipeline import (
    bias_group,
    evaluation_group,
    prepare_group,
    preprocess_group,
    registry_group,
    training_group,
)
from .context_project import ci_group, data_group, local_data_path, project_group, sagespec_group
from .context_studio import studio_group
from .context_tracking import tracking_group
from .context_tuning import tuning_group
from .origin import Origin, detect_origin

__all__ = ["build_context", "local_data_path"]


def build_context(
    spec: Spec, facet_values: dict[str, list[str]] | None = None, origin: Origin | None = None
) -> dict[str, Any]:
    """The template context. ``facet_values`` lists each unlisted bias facet's values in the data;
    ``origin`` is where the project installs sagespec from (default: where this sagespec came from)."""
    plan = build_plan(spec)
    return {
        "sagespec": sagespec_group(origin or detect_origin()),
        "project": project_group(spec),
        "data": data_group(spec),
        "plan": plan,
        "prepare": prepare_group(plan),
        "preprocess": preprocess_group(plan),
        "bias": bias_group(spec, facet_values),
        "training": training_group(spec, plan),
        "debugger": debugger_group(spec),
        "tuning": tuning_group(spec, plan),
        "evaluation": evaluation_group(spec, plan),
        "registry": registry_group(spec),
        "ci": ci_group(spec),
        "deploy": deploy_group(spec),
        "batch": batch_group(spec),
        "explore": explore_group(spec),
        "features": features_group(spec),
        "labeling": labeling_group(spec),
        "studio": studio_group(spec),
        "tracking": tracking_group(spec),
        "monitoring": monitoring_group(spec, plan),
    }
