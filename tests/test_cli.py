"""The CLI: clean messages, exit codes, nothing written on failure."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from sagespec.cli import main

from .conftest import DATA, REPO, SPECS


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "sagespec", *args], capture_output=True, text=True, cwd=cwd)


def test_validate_ok(write_spec, example_text, capsys):
    path = write_spec(example_text())
    assert main(["validate", str(path)]) == 0
    assert "ok (blazingtext" in capsys.readouterr().out


def test_validate_bad_spec_exits_2_without_traceback(write_spec, example_text):
    path = write_spec(example_text().replace("    epochs: 15\n", "    epochz: 15\n"))
    result = run("validate", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{path}:" in result.stderr and "model.hyperparameters.epochz" in result.stderr


def test_new_generates_and_refuses_to_overwrite(write_spec, example_text, tmp_path, capsys):
    path = write_spec(example_text())
    out = tmp_path / "proj"
    assert main(["new", str(path), "-o", str(out)]) == 0
    assert (out / "spec.yaml").exists() and (out / "data/womens_clothing_ecommerce_reviews.csv").exists()
    manifest = json.loads((out / ".sagespec/manifest.json").read_text())
    assert "spec.yaml" in manifest["files"]
    assert main(["new", str(path), "-o", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_new_with_a_bad_spec_writes_nothing(write_spec, example_text, tmp_path):
    path = write_spec(example_text().replace("text_column: Review Text", "text_column: Nope"))
    out = tmp_path / "proj"
    result = run("new", str(path), "-o", str(out))
    assert result.returncode == 2 and "dataset.text_column" in result.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]


def test_a_reader_that_stops_early_ends_the_command_quietly():
    """`sagespec schema | head -1`: the reader is gone before everything is written; no traceback."""
    reader, writer = os.pipe()
    os.close(reader)  # gone before the first write: every write fails as head's closed pipe makes it
    try:
        result = subprocess.run(
            [sys.executable, "-m", "sagespec", "schema"], stdout=writer, stderr=subprocess.PIPE, text=True
        )
    finally:
        os.close(writer)
    assert result.stderr == ""
    assert result.returncode == 141  # 128 + SIGPIPE, as a shell reports it


def test_schema_is_json_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"project", "dataset", "model"} <= set(schema["properties"])


def test_new_does_not_import_aws_or_tensorflow(write_spec, example_text, tmp_path):
    path = write_spec(example_text())
    code = (
        "import sys; from sagespec.cli import main; "
        f"rc = main(['new', {str(path)!r}, '-o', {str(tmp_path / 'p')!r}]); "
        "heavy = [m for m in ('sagemaker', 'boto3', 'botocore', 'tensorflow', 'pandas') "
        "if m in sys.modules]; "
        "print(heavy); sys.exit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def _readme_validation_example() -> tuple[list[str], str]:
    """The README's `sagespec validate specs/my.yaml` example: the two typos it names and its output."""
    readme = (REPO / "README.md").read_text()
    marker = "(`text_column: Review Txt`, `epochz: 15`), `sagespec validate specs/my.yaml` prints:"
    rest = readme.split(marker, 1)[1]
    block = rest.split("```\n", 2)[1]
    return ["specs/my.yaml"], block


def test_readme_validation_example_is_what_happens(tmp_path, monkeypatch, capsys):
    """Structural, cross-field and dataset problems in one report, sorted by line, as the README shows."""
    (tmp_path / "specs").mkdir()
    (tmp_path / "data").symlink_to(DATA)
    text = (SPECS / "womens-clothing-blazingtext.yaml").read_text()
    text = text.replace("text_column: Review Text", "text_column: Review Txt")
    (tmp_path / "specs/my.yaml").write_text(text.replace("    epochs: 15\n", "    epochz: 15\n"))
    monkeypatch.chdir(tmp_path)
    argv, expected = _readme_validation_example()
    assert main(["validate", *argv]) == 2
    assert capsys.readouterr().err == expected


def test_dataset_problems_join_a_report_with_broken_sections(write_spec, example_text, capsys):
    text = example_text().replace("text_column: Review Text", "text_column: Review Txt")
    path = write_spec(text.replace("instance_type: ml.c5.2xlarge", "instance_type: c5.2xlarge"))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "2 problems" in err and "dataset.text_column" in err and "model.instance_type" in err


def test_validate_reports_every_file(write_spec, example_text, capsys):
    bad = write_spec(example_text().replace("    epochs: 15\n", "    epochz: 15\n"), "bad.yaml")
    good = write_spec(example_text(), "good.yaml")
    worse = write_spec(example_text().replace("text_column: Review Text", "text_column: Nope"), "worse.yaml")
    assert main(["validate", str(bad), str(good), str(worse)]) == 2
    captured = capsys.readouterr()
    assert f"{good}: ok" in captured.out
    assert f"{bad}:" in captured.err and f"{worse}:" in captured.err and "dataset.text_column" in captured.err


def test_validate_no_data_skips_the_dataset(write_spec, example_text, capsys):
    path = write_spec(example_text().replace("text_column: Review Text", "text_column: Nope"))
    assert main(["validate", "--no-data", str(path)]) == 0


HOSTILE_SPECS = {
    "alias-bomb": "a0: &a0 [x]\n"
    + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)),
    "deep": "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "tag": "spec_version: !foo 1\n",
    "nan": "spec_version: .nan\n",
    "nul": "spec_version: 1\0\n",
}


def test_hostile_specs_exit_2_with_one_located_message(tmp_path):
    paths = []
    for name, text in HOSTILE_SPECS.items():
        paths.append(tmp_path / f"{name}.yaml")
        paths[-1].write_text(text)
    result = run("validate", "--no-data", *map(str, paths))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    for path in paths:
        assert re.search(rf"{re.escape(str(path))}:\d+:\d+: ", result.stderr), (path, result.stderr)


def _odd_outputs(tmp_path):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "link").symlink_to(tmp_path)
    return {
        "empty name": ("", "empty name"),
        "blank name": ("   ", "empty name"),
        "under a file": (str(tmp_path / "afile" / "sub"), "afile is not a folder"),
        "a file": (str(tmp_path / "afile"), "exists and is not a folder"),
        "a name too long": (str(tmp_path / ("z" * 300)), "as the output folder: File name too long"),
        "a path too long": (str(tmp_path / ("d/" * 3000)), "as the output folder: File name too long"),
        "dangling symlink": (str(tmp_path / "dangling"), "is a symbolic link"),
        "symlink to a full folder": (str(tmp_path / "link"), "exists and is not empty"),
        "under a dangling symlink": (str(tmp_path / "dangling" / "sub"), "dangling is not a folder"),
    }


def test_new_refuses_odd_output_paths_with_one_line(write_spec, example_text, tmp_path):
    path = write_spec(example_text())
    before = sorted(p.name for p in tmp_path.iterdir())
    odd = tmp_path / "odd"
    odd.mkdir()
    for case, (output, fragment) in _odd_outputs(odd).items():
        result = run("new", str(path), "-o", output)
        assert result.returncode == 2, case
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, (
            result.stderr
        )
        assert fragment in result.stderr, (case, result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "odd"])
    assert not (tmp_path / "nowhere").exists() and not list((tmp_path / "odd").glob(".*"))


def test_new_in_a_deleted_working_folder_says_so(write_spec, example_text, tmp_path):
    path = write_spec(example_text())
    gone = tmp_path / "gone"
    gone.mkdir()
    script = (
        f"import os, sys; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); "
        f"from sagespec.cli import main; sys.exit(main(['new', {str(path)!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "the current folder no longer exists" in result.stderr


def test_the_program_leaves_its_objects_out_of_the_collection_at_exit(write_spec, example_text):
    """main() as the program (no argv) freezes what is alive as it returns: the collection Python runs
    at exit then skips it (0.4-0.5 s after `local run`). A caller passing argv keeps its collector."""
    path = write_spec(example_text())
    code = (
        "import gc, sys; from sagespec.cli import main; "
        f"rc = main(['validate', '--no-data', {str(path)!r}]); kept = gc.get_freeze_count(); "
        f"sys.argv = ['sagespec', 'validate', '--no-data', {str(path)!r}]; rc += main(); "
        "print(kept, gc.get_freeze_count() > 0); sys.exit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["0", "True"]


# Every command that works on a generated project, given a folder that is not one.
PROJECT_COMMANDS = [
    ["update"],
    ["check"],
    ["local", "run"],
    ["local", "tune"],
    ["local", "runs"],
    ["local", "serve"],
    ["local", "batch", "--data", "reviews.csv"],
    ["local", "monitor"],
    ["local", "label"],
    ["local", "retrain-data"],
    ["studio", "publish", "--bucket", "templates", "--portfolio", "ML templates"],
]


@pytest.mark.parametrize("command", PROJECT_COMMANDS, ids=" ".join)
def test_a_folder_that_is_no_project_gets_one_answer_from_every_command(command, tmp_path):
    """The same one-line message, exit 2, no traceback, nothing written: for a folder without spec.yaml
    and for a folder that does not exist."""
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder, message in [
        (empty, f"error: {empty} has no spec.yaml: it is not a project generated by sagespec"),
        (tmp_path / "missing", f"error: {tmp_path / 'missing'}: no such folder"),
    ]:
        result = run(*command, str(folder), cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(message) and len(result.stderr.splitlines()) == 1, result.stderr
    assert not list(empty.iterdir()) and sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


@pytest.mark.parametrize("command", PROJECT_COMMANDS, ids=" ".join)
def test_a_folder_name_the_file_system_refuses_gets_one_line_from_every_command(command, tmp_path):
    """A name longer than the file system takes: exit 2, one line with the system's reason and the name
    cut short, not OSError's traceback; nothing written. (`new -o`: test_new_refuses_odd_output_paths.)"""
    (tmp_path / "spec.yaml").write_text("spec_version: 1\n")
    folder = tmp_path / ("q" * 300)
    result = run(*command, str(folder), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.rstrip().endswith("File name too long") and len(result.stderr) < 200
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]
