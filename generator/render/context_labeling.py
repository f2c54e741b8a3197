"""Template context for the human-in-the-loop files (``labeling/``): Amazon A2I review of low-confidence
predictions and Ground Truth labeling jobs.

Spec strings that land in the worker task template are escaped here for HTML *and* for Liquid: the
template is rendered again by Liquid (on AWS, and by ``sagespec local label``), so a ``{{`` in an
instruction must reach the page as text, not as a Liquid tag.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
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


@dataclass(frozen=True)
class LabelingGroup:
    """``labeling.*``: Amazon A2I review and Ground Truth jobs (labeling/), from ``spec.labeling``."""

    enabled: bool
    # AWS resource names: lower-case letters, digits and hyphens (A2I's pattern); the slug is one.
    flow_definition_name: str
    task_ui_name: str
    job_prefix: str
    workforce_name: str
    work_team_name: str
    answer_name: str
    task_template_file: str
    threshold: float
    labels: dict[str, str]
    raw_labels: dict[str, str]
    extra_columns: list[str]
    task_title: str
    task_description: str
    workers_per_item: int
    task_time_limit: int
    task_availability: int
    work_team_arn: str | None
    uses_cognito: bool
    # workforce: {create: cognito}: the Studio project template creates the pool and the team.
    creates_workforce: bool
    cognito_user_pool_id: str | None
    cognito_client_id: str | None
    output_s3_prefix: str | None
    ground_truth: bool
    input_manifest: str | None
    lambdas: dict[str, list[str]]
    # The worker task template's baked-in parts, escaped for HTML and Liquid.
    html: dict[str, Any]


def labeling_group(spec: Spec) -> LabelingGroup:
    lab = spec.labeling
    slug = spec.project.slug
    names = list(lab.labels)
    workforce = lab.workforce
    extra_columns = list(
        dict.fromkeys(
            [*spec.dataset.facet_columns, *([spec.bias.group_column] if spec.bias.group_column else [])]
        )
    )
    return LabelingGroup(
        enabled=lab.enabled,
        flow_definition_name=f"{slug}-review",
        task_ui_name=f"{slug}-review-ui",
        job_prefix=f"{slug}-labels",
        workforce_name=f"{slug}-workforce",
        work_team_name=f"{slug}-reviewers",
        answer_name=ANSWER_NAME,
        task_template_file=TASK_TEMPLATE_FILE,
        threshold=lab.confidence_threshold,
        labels={name: str(value) for name, value in lab.labels.items()},
        raw_labels=raw_label_for_class(spec),
        extra_columns=extra_columns,
        task_title=lab.task_title,
        task_description=lab.task_description,
        workers_per_item=lab.workers_per_item,
        task_time_limit=lab.task_time_limit_seconds,
        task_availability=lab.task_availability_seconds,
        work_team_arn=workforce.work_team_arn,
        uses_cognito=uses_cognito_workforce(spec),
        creates_workforce=workforce.create == "cognito",
        cognito_user_pool_id=workforce.cognito_user_pool_id,
        cognito_client_id=workforce.cognito_client_id,
        output_s3_prefix=lab.output_s3_prefix,
        ground_truth=lab.ground_truth.enabled,
        input_manifest=lab.ground_truth.input_manifest,
        lambdas={region: list(arns) for region, arns in sorted(TEXT_CLASSIFICATION_LAMBDAS.items())},
        html={
            "header": liquid_safe_html(lab.task_description),
            "title": liquid_safe_html(lab.task_title),
            "categories": liquid_safe_html(json.dumps(names, ensure_ascii=False)),
            "short": instruction_paragraphs(lab.instructions.short),
            "full": instruction_paragraphs(lab.instructions.full),
            "label_names": [liquid_safe_html(n) for n in names],
        },
    )
