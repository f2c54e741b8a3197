"""The local review queue and its answers, laid out like Amazon A2I's output in S3.

    .sagespec-runs/labeling/<flow definition name>/<run id>/
        tasks.json                      the queue: each low-confidence prediction's loop name and input
        <human loop name>/output.json   one answer, in A2I's output format

A task is exactly the human loop ``labeling/review_predictions.py`` would start for that prediction
(same name, same InputContent); an answer is the output.json A2I would write for it, with a local
flow-definition ARN (account 000000000000, as the local registry's ARNs).
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import LabelingError
from ..local.runs import runs_root
from .project import LabelingProject
from .scoring import ScoredText

LABELING_DIR = "labeling"
TASKS_FILE = "tasks.json"
OUTPUT_FILE = "output.json"
LOCAL_ACCOUNT = "000000000000"


def labeling_root(project_dir: Path) -> Path:
    return runs_root(project_dir) / LABELING_DIR


def local_flow_definition_arn(project: LabelingProject) -> str:
    settings = project.settings
    return (
        f"arn:aws:sagemaker:{settings.REGION}:{LOCAL_ACCOUNT}:flow-definition/{settings.FLOW_DEFINITION_NAME}"
    )


def a2i_time(moment: datetime) -> str:
    """A2I's timestamp format: 2020-12-28T18:59:58.321Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment
        return "reviewer"


def _write_json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


@dataclass(frozen=True)
class Task:
    name: str  # the human loop name
    input_content: dict[str, Any]  # StartHumanLoop's InputContent, the template's task.input


class ReviewQueue:
    def __init__(self, project: LabelingProject, folder: Path, tasks: list[Task], about: dict[str, Any]):
        self.project = project
        self.folder = folder
        self.tasks = tasks
        self.about = about
        self._index = {task.name: i for i, task in enumerate(tasks)}

    @classmethod
    def build(
        cls,
        project: LabelingProject,
        run_dir: Path,
        scored: list[ScoredText],
        *,
        threshold: float,
        limit: int | None = None,
        model: str = "",
    ) -> ReviewQueue:
        """The low-confidence predictions, least confident first, as human loops; writes tasks.json."""
        review = project.review_predictions
        arn = local_flow_definition_arn(project)
        text_column = project.settings.TEXT_COLUMN
        unsure = sorted(
            (s for s in scored if review.needs_review(s.prediction, threshold)),
            key=lambda s: s.prediction["confidence"],
        )
        tasks: dict[str, Task] = {}
        for item in unsure:
            request = review.human_loop_request(arn, {text_column: item.text}, item.prediction)
            name = request["HumanLoopName"]
            if name not in tasks:  # the same text twice in the split is one loop, as on AWS
                tasks[name] = Task(name, json.loads(request["HumanLoopInput"]["InputContent"]))
        chosen = list(tasks.values())[:limit] if limit else list(tasks.values())
        folder = labeling_root(project.root) / project.settings.FLOW_DEFINITION_NAME / run_dir.name
        about = {
            "flowDefinitionArn": arn,
            "run_id": run_dir.name,
            "model": model,
            "threshold": threshold,
            "scored": len(scored),
            "below_threshold": len(tasks),
            "created": a2i_time(datetime.now(UTC)),
        }
        tasks_doc = [{"humanLoopName": t.name, "inputContent": t.input_content} for t in chosen]
        _write_json(folder / TASKS_FILE, {**about, "tasks": tasks_doc})
        return cls(project, folder, chosen, about)

    # ------------------------------------------------------------------------------------------ reading
    def output_path(self, name: str) -> Path:
        return self.folder / name / OUTPUT_FILE

    def get(self, name: str) -> Task | None:
        index = self._index.get(name)
        return None if index is None else self.tasks[index]

    def position(self, name: str) -> int:
        """1-based position of the task in the queue."""
        return self._index[name] + 1

    def answered(self, name: str) -> bool:
        return self.output_path(name).is_file()

    @property
    def open_count(self) -> int:
        return sum(not self.answered(t.name) for t in self.tasks)

    def next_open(self, after: str | None = None) -> Task | None:
        """The first unanswered task after ``after`` (wrapping around), or None when all are done."""
        start = self._index[after] + 1 if after in self._index else 0
        for task in self.tasks[start:] + self.tasks[:start]:
            if not self.answered(task.name):
                return task
        return None

    # ------------------------------------------------------------------------------------------ answers
    def check_answer(self, answer_content: Any) -> None:
        """The crowd-classifier's answer must name one of the project's labels."""
        settings = self.project.settings
        if not isinstance(answer_content, dict):
            raise LabelingError("answerContent must be a JSON object")
        chosen = answer_content.get(settings.ANSWER_NAME)
        label = chosen.get("label") if isinstance(chosen, dict) else None
        if label not in settings.LABELS:
            raise LabelingError(
                f"answerContent.{settings.ANSWER_NAME}.label must be one of {list(settings.LABELS)}, "
                f"got {label!r}"
            )

    def submit(self, name: str, answer_content: Any, accepted: datetime, worker: str | None = None) -> Path:
        """Write the task's output.json as A2I does (one reviewer; a new answer replaces the last)."""
        task = self.get(name)
        if task is None:
            raise LabelingError(f"no task {name!r} in {self.folder / TASKS_FILE}")
        self.check_answer(answer_content)
        submitted = datetime.now(UTC)
        document = {
            "flowDefinitionArn": self.about["flowDefinitionArn"],
            "humanAnswers": [
                {
                    "acceptanceTime": a2i_time(accepted),
                    "answerContent": answer_content,
                    "submissionTime": a2i_time(submitted),
                    "timeSpentInSeconds": round(max((submitted - accepted).total_seconds(), 0.0), 3),
                    "workerId": f"local-{worker or _user()}",
                }
            ],
            "humanLoopName": name,
            "inputContent": task.input_content,
        }
        path = self.output_path(name)
        _write_json(path, document)
        return path
