"""`sagespec local label` and `sagespec local retrain-data`; ``register_label`` adds them to the
`sagespec local` command group."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..arguments import open_fraction, port, positive_int
from ..errors import LabelingError

if TYPE_CHECKING:
    from .project import LabelingProject
    from .tasks import ReviewQueue

DEFAULT_PORT = 8766


SOURCES = ("auto", "capture", "run")


def prepare_queue(
    project_dir: Path,
    run_id: str | None = None,
    threshold: float | None = None,
    limit: int | None = None,
    source: str = "auto",
) -> ReviewQueue:
    """Write the review queue (used by the command and by tests): the unsure predictions of the
    endpoint's captured traffic (``source`` "capture"), or of the run's test split scored with its model
    ("run"); "auto": captured traffic when there is some and no run is named, else the run."""
    from .capture import capture_files, production_variants
    from .project import load_labeling_project

    project = load_labeling_project(project_dir)
    cutoff = project.settings.CONFIDENCE_THRESHOLD if threshold is None else threshold
    wants_capture = source == "capture" or (source == "auto" and run_id is None)
    files = capture_files(project.root, production_variants(project)) if wants_capture else []
    if source == "auto":
        source = "capture" if files else "run"
    if source == "capture":
        return _capture_queue(project, files, cutoff, limit)
    return _run_queue(project, run_id, cutoff, limit)


def _run_queue(project: LabelingProject, run_id: str | None, cutoff: float, limit: int | None) -> ReviewQueue:
    from .scoring import latest_run, score_run
    from .tasks import ReviewQueue

    run_dir = latest_run(project.root, run_id)
    scored, source, served = score_run(project, run_dir)
    queue = ReviewQueue.build(
        project, run_dir, scored, threshold=cutoff, limit=limit, model=source.description
    )
    print(f"scored {len(scored)} test texts of run {run_dir.name} with the {source.description} ({served})")
    _print_counts(queue, cutoff)
    return queue


def _capture_queue(
    project: LabelingProject, files: list[Path], cutoff: float, limit: int | None
) -> ReviewQueue:
    from ..local.runs import capture_root, ground_truth_root
    from .capture import scan_capture
    from .tasks import ReviewQueue

    scan = scan_capture(project, files)
    if not scan.files:
        raise LabelingError(
            f"no captured traffic in {capture_root(project.root)}: serve the model with data capture on "
            "(`sagespec local serve`) and send it requests, or label a run's test split (--from run)"
        )
    queue = ReviewQueue.from_capture(project, scan.predictions, threshold=cutoff, limit=limit)
    left_out = "; ".join(f"{count} {reason}" for reason, count in sorted(scan.left_out.items()))
    print(
        f"read {scan.records} captured records in {scan.files} files: {len(scan.predictions)} predictions "
        f"of one text" + (f" (left out: {left_out})" if left_out else "")
    )
    _print_counts(queue, cutoff)
    print(
        "labels are also written as ground truth of the captured records to "
        f"{ground_truth_root(project.root)}"
    )
    return queue


def _print_counts(queue: ReviewQueue, cutoff: float) -> None:
    print(
        f"{queue.about['below_threshold']} below confidence {cutoff:g}; "
        f"{len(queue.tasks)} to review, {queue.open_count} still open"
    )


def cmd_local_label(args: argparse.Namespace) -> int:
    from ..foreground import serve_until_stopped
    from .server import LabelingApp, LabelingServer

    source = args.source or ("run" if args.run else "auto")
    if args.run and source == "capture":
        raise LabelingError("--run names a run's test split: leave out --from capture")
    queue = prepare_queue(Path(args.project_dir), args.run, args.threshold, args.limit, source)
    if not queue.tasks:
        print("nothing to review: every prediction is at or above the threshold")
        return 0
    # The pages render with python-liquid: a missing one is said now, not on the first page opened.
    queue.project.task_template.liquid_environment()
    try:
        server = LabelingServer(LabelingApp(queue), args.port, verbose=args.verbose)
    except OSError as err:
        print(f"error: cannot listen on port {args.port}: {err.strerror} (try --port 0)", file=sys.stderr)
        return 2
    print(f"answers go to {queue.folder}")
    print(f"open {server.url} to review (Ctrl-C or SIGTERM stops it)", flush=True)
    try:
        serve_until_stopped(server)
    finally:
        server.server_close()
    answered = len(queue.tasks) - queue.open_count
    print(
        f"\n{answered} of {len(queue.tasks)} tasks answered; `sagespec local retrain-data` makes rows of them"
    )
    return 0


def retrain_data(project_dir: Path, out: Path | None = None) -> tuple[Path, int, list[str]]:
    """Rows from every local answer, through the project's labeling/retraining_data.py."""
    from .project import load_labeling_project
    from .tasks import labeling_root

    project = load_labeling_project(project_dir)
    collect = project.retraining_data
    root = labeling_root(project.root)
    # A text reviewed again in a later run's queue is one human loop (its name comes from the text):
    # keep its newest answer, as A2I keeps one output per loop.
    newest: dict[str, tuple[str, dict]] = {}
    for where, output in collect.local_outputs(root) if root.is_dir() else []:
        answers = output.get("humanAnswers") or [{}]
        key = output.get("humanLoopName", where)
        stamp = answers[-1].get("submissionTime", "")
        if key not in newest or stamp >= newest[key][1]["humanAnswers"][-1].get("submissionTime", ""):
            newest[key] = (where, output)
    rows, skipped = collect.training_rows(sorted(newest.values(), key=lambda item: item[0]))
    target = out or root / "retraining-data.csv"
    collect.write_rows(rows, target)
    return target, len(rows), skipped


def cmd_local_retrain_data(args: argparse.Namespace) -> int:
    target, count, skipped = retrain_data(Path(args.project_dir), Path(args.out) if args.out else None)
    for line in skipped:
        print(f"left out {line}")
    rows = "1 row" if count == 1 else f"{count} rows"
    print(f"wrote {rows} to {target} (the dataset's columns; append them to the data to retrain)")
    return 0


def register_label(local: argparse._SubParsersAction) -> None:
    """Add `label` and `retrain-data` to the `sagespec local` subcommands."""
    label = local.add_parser(
        "label",
        help="review low-confidence predictions in the browser (A2I's task, locally): captured traffic "
        "or the latest run's test split",
        description="Collect the predictions below labeling.confidence_threshold, then serve the project's "
        "worker task template on 127.0.0.1 for each, least confident first. With --from capture (the "
        "default when the local endpoint has captured traffic), they are the endpoint's captured answers "
        "to requests of one text, and each label is also written as Model Monitor's ground truth of those "
        "records (DIR/.sagespec-runs/ground-truth/), for `sagespec local monitor`; with --from run, the "
        "latest local run's test split scored with its model. Answers are written in Amazon A2I's "
        "output format under DIR/.sagespec-runs/labeling/.",
    )
    label.add_argument("project_dir", nargs="?", default=".", metavar="DIR", help="the project (default: .)")
    label.add_argument(
        "--port", type=port, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0: any)"
    )
    label.add_argument(
        "--from",
        dest="source",
        choices=SOURCES[1:],
        help="what to review: captured traffic or a run's test split (default: captured traffic when "
        "there is some, else the latest run)",
    )
    label.add_argument("--run", metavar="RUN_ID", help="score this run's test split instead of the latest")
    label.add_argument(
        "--threshold", type=open_fraction, metavar="X", help="override the confidence threshold"
    )
    label.add_argument("--limit", type=positive_int, metavar="N", help="review at most N predictions")
    label.add_argument("-v", "--verbose", action="store_true", help="log every request")
    label.set_defaults(func=cmd_local_label)

    data = local.add_parser(
        "retrain-data",
        help="turn the local labeling answers into training rows (the dataset's columns)",
        description="Read every answer under DIR/.sagespec-runs/labeling/ with the project's "
        "labeling/retraining_data.py (the code that reads A2I's answers from S3) and write the rows.",
    )
    data.add_argument("project_dir", nargs="?", default=".", metavar="DIR", help="the project (default: .)")
    data.add_argument(
        "--out",
        metavar="CSV",
        help="where to write (default: DIR/.sagespec-runs/labeling/retraining-data.csv)",
    )
    data.set_defaults(func=cmd_local_retrain_data)
