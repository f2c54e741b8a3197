"""`sagespec local run`'s command line, registered on the main parser."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from pathlib import Path

import pytest

from sagespec import cli


@pytest.fixture
def parser(monkeypatch):
    monkeypatch.setattr(cli, "_EXTENSIONS", [cli.register_local_group])
    return cli.build_parser()


def test_defaults(parser):
    args = parser.parse_args(["local", "run"])
    assert (args.project_dir, args.data, args.max_rows, args.no_cache, args.model, args.threshold) == (
        ".",
        None,
        None,
        False,
        None,
        None,
    )
    assert args.func.__name__ == "cmd_local_run"


def test_options(parser):
    args = parser.parse_args(
        [
            "local",
            "run",
            "proj",
            "--data",
            "d.csv",
            "--max-rows",
            "500",
            "--no-cache",
            "--model",
            "m",
            "--threshold",
            "0.7",
        ]
    )
    assert (args.project_dir, args.data, args.max_rows, args.no_cache, args.model, args.threshold) == (
        "proj",
        "d.csv",
        500,
        True,
        "m",
        0.7,
    )


@pytest.mark.parametrize("argv", [["--max-rows", "0"], ["--max-rows", "x"], ["--threshold", "1.5"]])
def test_bad_values_are_usage_errors(parser, argv):
    with pytest.raises(SystemExit) as exit_info, contextlib.redirect_stderr(io.StringIO()):
        parser.parse_args(["local", "run", *argv])
    assert exit_info.value.code == 2


def test_local_needs_a_subcommand(parser):
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        parser.parse_args(["local"])


def test_tune_options(parser):
    args = parser.parse_args(["local", "tune"])
    assert (args.project_dir, args.trials, args.parallel, args.max_rows) == (".", None, None, None)
    assert args.func.__name__ == "cmd_local_tune"
    args = parser.parse_args(
        ["local", "tune", "proj", "--trials", "6", "--parallel", "2", "--max-rows", "1500"]
    )
    assert (args.project_dir, args.trials, args.parallel, args.max_rows) == ("proj", 6, 2, 1500)
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        parser.parse_args(["local", "tune", "--parallel", "0"])


def test_scale_out_and_step_selection_options(parser):
    args = parser.parse_args(["local", "run"])
    assert (args.processing_instances, args.steps) == (1, None)
    args = parser.parse_args(
        ["local", "run", "--processing-instances", "4", "--steps", " PreprocessData, TrainModel,,TrainModel"]
    )
    assert (args.processing_instances, args.steps) == (4, ("PreprocessData", "TrainModel"))


@pytest.mark.parametrize(
    "argv", [["--processing-instances", "0"], ["--processing-instances", "two"], ["--steps", " , "]]
)
def test_bad_scale_out_and_selection_values_are_usage_errors(parser, argv):
    with pytest.raises(SystemExit) as exit_info, contextlib.redirect_stderr(io.StringIO()):
        parser.parse_args(["local", "run", *argv])
    assert exit_info.value.code == 2


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_local_passes_the_processing_instances(tmp_path):
    from sagespec.render import render_project
    from sagespec.spec import load_spec

    spec = Path(__file__).resolve().parents[2] / "specs" / "womens-clothing-blazingtext.yaml"
    render_project(load_spec(spec)).write(tmp_path / "proj")

    def dry_run(*variables: str) -> str:
        return subprocess.run(
            ["make", "-n", "local", *variables],
            cwd=tmp_path / "proj",
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    assert "--processing-instances" not in dry_run()  # one worker by default
    assert "sagespec local run . --max-rows 50 --processing-instances 3" in dry_run(
        "MAX_ROWS=50", "PROCESSING_INSTANCES=3"
    ).replace("  ", " ")
