"""The `sagespec` command: parse arguments, call one function, turn sagespec errors into messages."""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from . import __version__
from .aws.cli import register as register_studio
from .errors import SagespecError
from .label.cli import register_label
from .local.cli import register_local
from .local.deps import reporting_missing_dependencies
from .serve.cli import register_serve


def _print_warnings(loaded) -> None:
    for warning in loaded.warnings:
        print(f"  {warning.format()}", file=sys.stderr)


def cmd_validate(args: argparse.Namespace) -> int:
    """Report on every spec given, bad ones included; exit with the worst status (2: a spec is bad)."""
    from .spec import load_spec
    from .spec.dataset_check import load_spec_with_data

    load = load_spec if args.no_data else load_spec_with_data
    status = 0
    for path in args.specs:
        try:
            loaded = load(path)
        except SagespecError as exc:
            print(exc.render(), file=sys.stderr)
            status = max(status, exc.exit_code)
            continue
        _print_warnings(loaded)
        spec = loaded.spec
        print(f"{path}: ok ({spec.model.type}, project {spec.project.slug})")
    return status


def cmd_new(args: argparse.Namespace) -> int:
    from .render import generate
    from .render.origin import ORIGIN_PATH, Origin
    from .render.writer import new_project_folder
    from .spec import load_spec
    from .spec.dataset_check import check_dataset_file

    loaded = load_spec(args.spec)
    _print_warnings(loaded)
    check_dataset_file(loaded)
    output = new_project_folder(args.output, loaded.spec.project.slug)
    project = generate(loaded, output)
    print(f"generated {len(project.files)} files in {output}")
    origin = Origin.from_json(project.files[ORIGIN_PATH])
    if not origin.reachable_from_ci:
        print(
            f"note: make install takes sagespec from {origin.requirement}, which CI cannot reach; "
            "README.md (Quick start) says how to point CI at another source"
        )
    print(f"next: cd {output} && make install && make test")
    return 0


def _project_spec(project: Path, spec_file: str | None):
    from .spec import load_spec
    from .spec.project_file import project_spec_path

    loaded = load_spec(spec_file or project_spec_path(project))
    _print_warnings(loaded)
    return loaded


def cmd_update(args: argparse.Namespace) -> int:
    from .render.update import update_project
    from .spec.dataset_check import check_dataset_file

    project = Path(args.project)
    loaded = _project_spec(project, args.spec)
    check_dataset_file(loaded)
    report = update_project(project, loaded)
    print("\n".join(report.lines()) or "  nothing to do")
    print(f"{project}: up to date with {loaded.path}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .render.update import check_project

    project = Path(args.project)
    check_project(project, _project_spec(project, None))
    print(f"{project}: generated files are up to date with spec.yaml")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    if args.format == "markdown":
        from .spec.reference import spec_reference_markdown

        print(spec_reference_markdown(), end="")
        return 0
    from .spec.schema import spec_json_schema

    print(json.dumps(spec_json_schema(), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sagespec", description="Validate a sagespec YAML spec and generate a SageMaker Projects repo."
    )
    parser.add_argument("--version", action="version", version=f"sagespec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check one or more specs; report every problem with file:line:column")
    p.add_argument("specs", nargs="+", metavar="SPEC")
    p.add_argument(
        "--no-data", action="store_true", help="skip checking the local dataset's columns and labels"
    )
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("new", help="generate a project from a spec into a new folder")
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("-o", "--output", help="the new project folder (default: ./<project.slug>)")
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("update", help="re-render a project from its spec, keeping your edits (3-way merge)")
    p.add_argument("project", nargs="?", default=".", metavar="DIR")
    p.add_argument("--spec", metavar="FILE", help="a new spec to apply (default: DIR/spec.yaml)")
    p.set_defaults(func=cmd_update)

    p = sub.add_parser("check", help="fail when generated files are out of date with DIR/spec.yaml")
    p.add_argument("project", nargs="?", default=".", metavar="DIR")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("schema", help="print the spec's JSON Schema (or its Markdown reference)")
    p.add_argument("--format", choices=["json", "markdown"], default="json")
    p.set_defaults(func=cmd_schema)

    for register in _EXTENSIONS:
        register(sub)
    return parser


def register_local_group(subparsers: argparse._SubParsersAction) -> None:
    """`sagespec local ...`: the commands that work on a generated project on this machine, each
    registered by the package that implements it (local: run, tune; serve: serve, shift; label: label,
    retrain-data)."""
    local = subparsers.add_parser(
        "local", help="run a generated project's pipeline on this machine (no AWS, no Docker)"
    )
    commands = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")
    for register in (register_local, register_serve, register_label):
        register(commands)
    # A missing third-party module, in any of them, is one line naming what to install.
    for name, command in commands.choices.items():
        func = command.get_default("func")
        command.set_defaults(func=reporting_missing_dependencies(func, f"sagespec local {name}"))


# Command groups that live with their feature register themselves here.
_EXTENSIONS: list[Callable[[argparse._SubParsersAction], None]] = [register_local_group, register_studio]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` names. Without ``argv`` this is the program (the console script,
    ``python -m sagespec``): its arguments are sys.argv's, and the process ends once it returns."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SagespecError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`sagespec schema | head`): there is no one left to tell. Python flushes
        # stdout once more as it exits; pointing it at devnull keeps that flush from failing too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE  # what a shell reports for a command that a closed pipe stopped
    finally:
        if argv is None:
            _skip_the_collection_at_exit()


def _skip_the_collection_at_exit() -> None:
    """Leave the objects alive now out of the garbage collection Python runs as it exits.

    That collection walks every object the command's libraries made: after `sagespec local run` had
    the bias check load pandas, SciPy, scikit-learn and matplotlib, 0.4-0.5 s of CPU that frees nothing
    the operating system takes back anyway. Exit handlers still run; every file a command writes is
    closed before it returns. Only for the program: a caller that passes ``argv`` (a test) keeps its
    collector as it was.
    """
    gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
