"""The worker task template, rendered with Liquid the way Amazon A2I and Ground Truth render it.

AWS renders the template itself; this module renders it here, for tests/test_labeling.py and for
`sagespec local label`, so both see exactly the HTML a reviewer gets. Both services escape output by
default (the template still says `| escape`, which is not applied twice) and add filters of their own,
registered below so that a template edited along AWS's examples still renders here.
"""

from __future__ import annotations

import json
from typing import Any

from . import settings


def liquid_environment() -> Any:
    """A python-liquid environment with A2I's autoescaping and its extra filters."""
    import liquid  # python-liquid 2 (requirements-dev.txt): only local rendering needs it
    from markupsafe import Markup

    env = liquid.Environment(autoescape=True)
    env.filters["to_json"] = lambda value: json.dumps(value, ensure_ascii=False)
    env.filters["skip_autoescape"] = lambda value: Markup(str(value))
    # On AWS: a presigned URL for an S3 object. Review tasks carry text, so locally it is the identity.
    env.filters["grant_read_access"] = lambda value: value
    return env


def task_input(
    text: str, prediction: dict[str, Any] | None = None, columns: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A review task's input: A2I's InputContent, seen by the template as `task.input`.

    ``taskObject`` is the text (Ground Truth's text tasks call it the same); the model's prediction and
    the row's other columns ride along for the retraining data and are not shown to reviewers.
    """
    content: dict[str, Any] = {"taskObject": text}
    if prediction is not None:
        content["prediction"] = prediction
    if columns:
        content["columns"] = columns
    return content


def render_task(input_content: dict[str, Any], template: str | None = None) -> str:
    """The HTML of one task: the template (default: worker_task.liquid.html) for ``input_content``."""
    if template is None:
        template = settings.TASK_TEMPLATE.read_text(encoding="utf-8")
    return liquid_environment().from_string(template).render(task={"input": input_content})
