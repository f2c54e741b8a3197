"""`sagespec local run`, `tune`, `runs` and `compare`. :func:`register_local` adds them to the `local`
group, which sagespec.cli composes with the groups' other commands (serve, label)."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..arguments import fraction, positive_int

if TYPE_CHECKING:
    from .runs import RunOptions


def _run_options(args: argparse.Namespace, **extra: Any) -> RunOptions:
    """The options `local run` and `local tune` share, from their parsed arguments."""
    from .runs import RunOptions

    return RunOptions(
        project_dir=Path(args.project_dir),
        data=Path(args.data) if args.data else None,
        max_rows=args.max_rows,
        use_cache=not args.no_cache,
        model=Path(args.model) if args.model else None,
        quiet=args.quiet,
        **extra,
    )


def step_names(text: str) -> tuple[str, ...]:
    """``--steps A,B``: step names, comma-separated (checked against the plan when the run starts)."""
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise argparse.ArgumentTypeError(f"expected step names separated by commas, got {text!r}")
    return names


def _fork_server(args: argparse.Namespace) -> contextlib.AbstractContextManager[None]:
    """The steps' fork server (local/forkserver.py), started before the runner and the spec models are
    imported: it loads the steps' libraries meanwhile, on another core."""
    from ..spec.project_file import project_spec_path
    from . import forkserver
    from .contract import offline_environment

    project_spec_path(args.project_dir)  # a folder that is no project: refused before a server starts
    libraries = forkserver.preload_for(Path(args.project_dir))
    return forkserver.serving(forkserver.data_libraries(libraries), offline_environment())


def cmd_local_run(args: argparse.Namespace) -> int:
    with _fork_server(args):
        from .runner import run_pipeline

        run_pipeline(
            _run_options(
                args,
                threshold=args.threshold,
                processing_instances=args.processing_instances,
                steps=args.steps,
            )
        )
    return 0


def cmd_local_tune(args: argparse.Namespace) -> int:
    with _fork_server(args):
        from .runner import Runner
        from .tuning import SearchSettings

        options = _run_options(args, tune_trials=args.trials, tune_parallel=args.parallel)
        runner = Runner(options)
        SearchSettings.from_spec(runner.spec, args.trials, args.parallel)  # no tuning section: a clean error
        tuning_step = next(step for step in runner.plan.steps if step.kind == "tuning")
        runner.options.stop_after = tuning_step.name
        runner.run()
    return 0


def cmd_local_runs(args: argparse.Namespace) -> int:
    from .report_runs import format_runs, list_runs

    print(format_runs(list_runs(Path(args.project_dir))))
    return 0


def cmd_local_compare(args: argparse.Namespace) -> int:
    from .report_runs import compare

    print(compare(Path(args.project_dir), args.run_a, args.run_b))
    return 0


def _register_history(commands: argparse._SubParsersAction) -> None:
    runs = commands.add_parser(
        "runs",
        help="list the project's local runs: id, time, status, metric, registered version",
        description="List DIR's local runs (DIR/.sagespec-runs/), oldest first. Each run's page is "
        "DIR/.sagespec-runs/<run-id>/report.html.",
    )
    runs.add_argument(
        "project_dir", nargs="?", default=".", metavar="DIR", help="the generated project (default: .)"
    )
    runs.set_defaults(func=cmd_local_runs)
    compare = commands.add_parser(
        "compare",
        help="show what changed between two local runs: parameters, data, metrics, step code",
        description="Compare two runs of DIR (ids as `sagespec local runs` lists them): their outcome, "
        "parameters and hyperparameters, the data's and spec's hashes, the evaluation metrics and the "
        "code hash of each step.",
    )
    compare.add_argument("project_dir", metavar="DIR", help="the generated project")
    compare.add_argument("run_a", metavar="RUN_A", help="the earlier run's id")
    compare.add_argument("run_b", metavar="RUN_B", help="the later run's id")
    compare.set_defaults(func=cmd_local_compare)


def register_local(local_subparsers: argparse._SubParsersAction) -> None:
    """Add `run`, `tune`, `runs` and `compare` to the `sagespec local` command group."""
    commands = local_subparsers
    run = commands.add_parser(
        "run",
        help="run the pipeline's steps in order under SageMaker's container contract",
        description="Run the project's pipeline steps (the same plan the SageMaker pipeline is built "
        "from) on this machine. Artifacts land in DIR/.sagespec-runs/<run-id>/<step>/.",
        epilog="--processing-instances N runs a processing step whose input is sharded by S3 key "
        "(PrepareData, PreprocessData) as N worker processes at once, as N SageMaker instances: worker "
        "i gets the sorted input files i, i+N, ...; all write into the step's outputs (worker i logs "
        "to logs/output-<i>.log). The outputs are the same for any N, so N is not part of the cache "
        "key. --steps A,B runs only those steps (a cached one is still reused; add --no-cache to "
        "force it): every other step before them is taken from the newest earlier run that finished "
        "it (an error when there is none), the steps after them are not run, and the condition and "
        "its branch follow only when the selection reaches them.",
    )
    run.add_argument(
        "project_dir", nargs="?", default=".", metavar="DIR", help="the generated project (default: .)"
    )
    run.add_argument(
        "--data", metavar="PATH", help="data file or folder to use instead of spec dataset.source"
    )
    run.add_argument("--max-rows", type=positive_int, metavar="N", help="a stratified sample of N rows")
    run.add_argument(
        "--no-cache", action="store_true", help="run every step, even when an earlier run can be reused"
    )
    run.add_argument(
        "--model",
        metavar="PATH",
        help="local folder of the pretrained model (BERT); overrides model.pretrained_model",
    )
    run.add_argument(
        "--threshold",
        type=fraction,
        metavar="X",
        help="override the EvaluationThreshold of the condition step",
    )
    run.add_argument(
        "--processing-instances",
        type=positive_int,
        default=1,
        metavar="N",
        help="worker processes for a processing step with a sharded input, as its instance count "
        "(default: 1)",
    )
    run.add_argument(
        "--steps",
        type=step_names,
        metavar="A,B",
        help="run only these steps; the ones before them are reused from the newest earlier run "
        "that finished them",
    )
    run.add_argument("-q", "--quiet", action="store_true", help="hide the steps' own output (still logged)")
    run.set_defaults(func=cmd_local_run)

    tune = commands.add_parser(
        "tune",
        help="run the spec's hyperparameter search (Optuna) on this machine",
        description="Run the steps before the tuning step, then the spec's hyperparameter search: the "
        "ranges, objective and strategy of the SageMaker tuning job, with Optuna (Random: RandomSampler, "
        "Bayesian: TPESampler, Grid: GridSampler, Hyperband: HyperbandPruner). Each trial is a training "
        "job in its own process and folder under DIR/.sagespec-runs/<run-id>/TuneModel/trials/; the "
        "results table (CSV, Markdown) and plots land in TuneModel/tuning/. `sagespec local run` runs "
        "the same search, then evaluates and registers the best trial's model.",
    )
    tune.add_argument(
        "project_dir", nargs="?", default=".", metavar="DIR", help="the generated project (default: .)"
    )
    tune.add_argument(
        "--trials", type=positive_int, metavar="N", help="number of trials (default: tuning.max_jobs)"
    )
    tune.add_argument(
        "--parallel",
        type=positive_int,
        metavar="P",
        help="trials at once, each in its own process (default: tuning.max_parallel_jobs)",
    )
    tune.add_argument("--max-rows", type=positive_int, metavar="N", help="a stratified sample of N rows")
    tune.add_argument(
        "--data", metavar="PATH", help="data file or folder to use instead of spec dataset.source"
    )
    tune.add_argument("--no-cache", action="store_true", help="run every step, even a reusable one")
    tune.add_argument(
        "--model",
        metavar="PATH",
        help="local folder of the pretrained model (BERT); overrides model.pretrained_model",
    )
    tune.add_argument("-q", "--quiet", action="store_true", help="hide the steps' own output (still logged)")
    tune.set_defaults(func=cmd_local_tune)
    _register_history(commands)
