"""Template context for the human-in-the-loop files (``labeling/``): Amazon A2I review of low-confidence
predictions and Ground Truth labeling jobs.

Spec strings that land in the worker task template are escaped here for HTML *and* for Liquid: the
template is rendered again by Liquid (on AWS, and by ``sagespec local label``), so a ``{{`` in an
instruction must reach the page as text, not as a Liquid tag.
"""

from __future__ import annotations

import html
import json
from typing import Any

from ..spec.labeling import TEXT_CLASSIFICATION_LAMBDAS
from ..spec.models import Spec
from .layout import uses_cognito_workforce

# The crowd-classifier's name: the key of the answer in A2I's answerContent and in Ground Truth's
# worker responses. "crowd-classifier" is the name Ground Truth's text classification template uses.
ANSWER_NAME = "crowd-classifier"
TASK_TEMPLATE_FILE = "worker_task.liquid.html"


def liquid_safe_html(text: str) -> str:
    """HTML-escape ``text`` (quotes too, so it also fits an attribute) and hide braces from Liquid."""
    return html.escape(text, quote=True).replace("{", "&#123;").replace("}", "&#125;")


def instruction_paragraphs(text: str) -> list[str]:
    """Plain text -> escaped paragraphs (blank lines separate them; single newlines join)."""
    paragraphs = [" ".join(block.split()) for block in text.replace("\r\n", "\n").split("\n\n")]
    return [liquid_safe_html(p) for p in paragraphs if p]


def raw_label_for_class(spec: Spec) -> dict[str, str]:
    """Class label -> the raw label value written back into the dataset's label column.

    The mapping may send several raw values to one class ({1: -1, 2: -1}); the first of them stands for
    the class. preprocess.py maps it to the same class again, so a retraining row carries exactly the
    class the reviewer chose.
    """
    back: dict[str, str] = {}
    for raw, label in spec.dataset.label_mapping.items():
        back.setdefault(str(label), str(raw))
    return back


def labeling_context(spec: Spec) -> dict[str, Any]:
    lab = spec.labeling
    slug = spec.project.slug
    names = list(lab.labels)
    workforce = lab.workforce
    extra_columns = list(
        dict.fromkeys(
            [*spec.dataset.facet_columns, *([spec.bias.group_column] if spec.bias.group_column else [])]
        )
    )
    return {
        "labeling_enabled": lab.enabled,
        # AWS resource names: lower-case letters, digits and hyphens (A2I's pattern); the slug is one.
        "labeling_flow_definition_name": f"{slug}-review",
        "labeling_task_ui_name": f"{slug}-review-ui",
        "labeling_job_prefix": f"{slug}-labels",
        "labeling_answer_name": ANSWER_NAME,
        "labeling_task_template_file": TASK_TEMPLATE_FILE,
        "labeling_threshold": lab.confidence_threshold,
        "labeling_labels": {name: str(value) for name, value in lab.labels.items()},
        "labeling_raw_labels": raw_label_for_class(spec),
        "labeling_extra_columns": extra_columns,
        "labeling_task_title": lab.task_title,
        "labeling_task_description": lab.task_description,
        "labeling_workers_per_item": lab.workers_per_item,
        "labeling_task_time_limit": lab.task_time_limit_seconds,
        "labeling_task_availability": lab.task_availability_seconds,
        "labeling_work_team_arn": workforce.work_team_arn,
        "labeling_uses_cognito": uses_cognito_workforce(spec),
        "labeling_cognito_user_pool_id": workforce.cognito_user_pool_id,
        "labeling_cognito_client_id": workforce.cognito_client_id,
        "labeling_workforce_name": f"{slug}-workforce",
        "labeling_work_team_name": f"{slug}-reviewers",
        "labeling_output_s3_prefix": lab.output_s3_prefix,
        "labeling_ground_truth": lab.ground_truth.enabled,
        "labeling_input_manifest": lab.ground_truth.input_manifest,
        "labeling_lambdas": {
            region: list(arns) for region, arns in sorted(TEXT_CLASSIFICATION_LAMBDAS.items())
        },
        # The worker task template's baked-in parts, escaped for HTML and Liquid.
        "labeling_html": {
            "header": liquid_safe_html(lab.task_description),
            "title": liquid_safe_html(lab.task_title),
            "categories": liquid_safe_html(json.dumps(names, ensure_ascii=False)),
            "short": instruction_paragraphs(lab.instructions.short),
            "full": instruction_paragraphs(lab.instructions.full),
            "label_names": [liquid_safe_html(n) for n in names],
        },
    }
