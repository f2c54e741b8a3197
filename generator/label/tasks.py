"""The local review queue and its answers, laid out like Amazon A2I's output in S3.

    .sagespec-runs/labeling/<flow definition name>/<run id, or captured-traffic>/
        tasks.json                      the queue: each low-confidence prediction's loop name and input
                                        (and, from captured traffic, the event ids of its records)
        <human loop name>/output.json   one answer, in A2I's output format

A task is exactly the human loop ``labeling/review_predictions.py`` would start for that prediction
(same name, same InputContent); an answer is the output.json A2I would write for it, with a local
flow-definition ARN (account 000000000000, as the local registry's ARNs). A task made from captured
traffic also writes its label as Model Monitor's ground truth for each of its records (capture.py).
"""

from __future__ import annotations

import contextlib
import getpass
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import LabelingError
from ..local.runs import runs_root
from .capture import CapturedPrediction, write_ground_truth
from .project import LabelingProject
from .scoring import ScoredText

LABELING_DIR = "labeling"
TASKS_FILE = "tasks.json"
OUTPUT_FILE = "output.json"
LOCAL_ACCOUNT = "000000000000"
CAPTURE_QUEUE = "captured-traffic"  # the queue of captured predictions: one, kept across sessions


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


def parse_a2i_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _write_json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


@dataclass(frozen=True)
class Task:
    name: str  # the human loop name
    input_content: dict[str, Any]  # StartHumanLoop's InputContent, the template's task.input
    event_ids: tuple[str, ...] = ()  # the captured records the text came in (none: a test-split text)


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
        """The run's low-confidence predictions, least confident first, as human loops; writes tasks.json."""
        items = [(s.text, s.prediction, ()) for s in scored]
        about = {"run_id": run_dir.name, "source": f"run {run_dir.name}", "model": model}
        return cls._assemble(project, run_dir.name, items, about, threshold=threshold, limit=limit)

    @classmethod
    def from_capture(
        cls,
        project: LabelingProject,
        captured: list[CapturedPrediction],
        *,
        threshold: float,
        limit: int | None = None,
    ) -> ReviewQueue:
        """The low-confidence captured predictions as human loops (one per text, with the event ids of
        every record that holds it); writes tasks.json. The ground truth of tasks answered in an
        earlier session is written again, for the records captured since."""
        items = [(c.text, c.prediction, (c.event_id,)) for c in captured]
        variants = sorted({c.variant for c in captured})
        about = {"source": "captured traffic", "model": f"the endpoint's answers ({', '.join(variants)})"}
        queue = cls._assemble(project, CAPTURE_QUEUE, items, about, threshold=threshold, limit=limit)
        for task in queue.tasks:
            if queue.answered(task.name):
                # An answer file edited by hand into something else is left as it is.
                with contextlib.suppress(OSError, ValueError, KeyError, TypeError, IndexError):
                    queue._write_ground_truth(task, queue._read_answer(task.name))
        return queue

    @classmethod
    def _assemble(
        cls,
        project: LabelingProject,
        queue_name: str,
        items: list[tuple[str, dict[str, Any], tuple[str, ...]]],
        about: dict[str, Any],
        *,
        threshold: float,
        limit: int | None,
    ) -> ReviewQueue:
        review = project.review_predictions
        arn = local_flow_definition_arn(project)
        text_column = project.settings.TEXT_COLUMN
        unsure = sorted(
            (item for item in items if review.needs_review(item[1], threshold)),
            key=lambda item: item[1]["confidence"],
        )
        tasks: dict[str, Task] = {}
        for text, prediction, event_ids in unsure:
            request = review.human_loop_request(arn, {text_column: text}, prediction)
            name = request["HumanLoopName"]
            if name in tasks:  # the same text twice is one loop, as on AWS
                known = tasks[name]
                new = tuple(e for e in event_ids if e not in known.event_ids)
                tasks[name] = Task(name, known.input_content, known.event_ids + new)
            else:
                tasks[name] = Task(name, json.loads(request["HumanLoopInput"]["InputContent"]), event_ids)
        chosen = list(tasks.values())[:limit] if limit else list(tasks.values())
        folder = labeling_root(project.root) / project.settings.FLOW_DEFINITION_NAME / queue_name
        about = {
            "flowDefinitionArn": arn,
            **about,
            "threshold": threshold,
            "scored": len(items),
            "below_threshold": len(tasks),
            "created": a2i_time(datetime.now(UTC)),
        }
        tasks_doc = [
            {
                "humanLoopName": t.name,
                "inputContent": t.input_content,
                **({"eventIds": list(t.event_ids)} if t.event_ids else {}),
            }
            for t in chosen
        ]
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
        self._write_ground_truth(task, document)
        return path

    def _read_answer(self, name: str) -> dict[str, Any]:
        return json.loads(self.output_path(name).read_text(encoding="utf-8"))

    def _write_ground_truth(self, task: Task, output: dict[str, Any]) -> Path | None:
        """The answer as Model Monitor's ground truth of the task's captured records (none: no records).

        The label is the model's class (settings.LABELS maps the reviewer's choice to it), the hour
        folder the answer's submission time."""
        if not task.event_ids:
            return None
        settings = self.project.settings
        answer = output["humanAnswers"][-1]
        chosen = answer["answerContent"][settings.ANSWER_NAME]["label"]
        labeled = parse_a2i_time(answer["submissionTime"])
        return write_ground_truth(
            self.project.root, task.name, str(settings.LABELS[chosen]), task.event_ids, labeled
        )
