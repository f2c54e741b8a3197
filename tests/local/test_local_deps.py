"""A missing third-party module is one line naming it and the install command, exit 2, wherever it is
imported: in `sagespec local`'s own process, or in a step's process."""

from __future__ import annotations

import re
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from sagespec.local import deps
from sagespec.local.process import check, run_command

BLOCKER = """\
import sys


class _NotInstalled:
    \"\"\"Acts as if {blocked} were not installed (a test's sitecustomize).\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
"""


@pytest.fixture
def without_in_subprocesses(tmp_path, monkeypatch):
    """Make the given modules uninstalled for every process started from now on (a sitecustomize)."""

    def block(*modules: str) -> None:
        folder = tmp_path / "blocker"
        folder.mkdir()
        (folder / "sitecustomize.py").write_text(BLOCKER.format(blocked=set(modules)))
        monkeypatch.setenv("PYTHONPATH", str(folder))

    return block


def test_a_step_script_without_its_module_is_one_line(helpers, sample_csv, tmp_path, without_in_subprocesses):
    project = helpers.make_project(tmp_path, helpers.blazingtext_spec(), sample_csv)
    without_in_subprocesses("pandas")
    result = helpers.run_cli(["local", "run", str(project), "--max-rows", "300"])
    assert result.code == 2, result.text
    assert result.err == (
        "error: PrepareData needs the Python module 'pandas' (package pandas), which is not "
        'installed: pip install "sagespec[local]" (or `make install` in the project)\n'
    )


def test_the_bias_checks_process_without_smclarify_is_one_line(
    helpers, sample_csv, tmp_path, without_in_subprocesses
):
    """The bias check runs smclarify in a process of its own (local/bias_job.py), as the data steps do."""
    project = helpers.make_project(tmp_path, helpers.blazingtext_spec(), sample_csv)
    without_in_subprocesses("smclarify")
    result = helpers.run_cli(["local", "run", str(project), "--max-rows", "300"])
    assert result.code == 2, result.text
    assert result.err.splitlines() == [
        "error: CheckDataBias needs the Python module 'smclarify' (package smclarify), which is not "
        'installed: pip install "sagespec[local]" (or `make install` in the project)'
    ]


def _a_project_folder(tmp_path: Path) -> Path:
    """What the commands check before they start: a folder with a spec.yaml (the runner is replaced)."""
    (tmp_path / "spec.yaml").write_text("# the replaced runner reads nothing\n")
    return tmp_path


def test_every_local_command_reports_a_missing_module(helpers, monkeypatch, tmp_path):
    from sagespec.local import runner

    def run_pipeline(options):
        import optuna_is_not_installed  # noqa: F401

    monkeypatch.setattr(runner, "run_pipeline", run_pipeline)
    result = helpers.run_cli(["local", "run", str(_a_project_folder(tmp_path))])
    assert (result.code, result.err) == (
        2,
        "error: sagespec local run needs the Python module 'optuna_is_not_installed', which is not "
        "installed: `make install` in the project (or: pip install optuna_is_not_installed)\n",
    )


def test_a_missing_module_of_sagespec_itself_keeps_its_traceback(helpers, monkeypatch, tmp_path):
    from sagespec.local import runner

    def run_pipeline(options):
        raise ModuleNotFoundError("No module named 'sagespec.gone'", name="sagespec.gone")

    monkeypatch.setattr(runner, "run_pipeline", run_pipeline)
    with pytest.raises(ModuleNotFoundError):
        helpers.run_cli(["local", "run", str(_a_project_folder(tmp_path))])


def test_the_step_process_output_is_read_for_the_module(tmp_path, without_in_subprocesses):
    without_in_subprocesses("fasttext")
    script = textwrap.dedent(
        """
        import json
        import fasttext.util
        """
    )
    log = tmp_path / "output.log"
    completed = run_command([sys.executable, "-c", script], cwd=tmp_path, env={}, log_path=log)
    with pytest.raises(deps.MissingDependency, match="'fasttext' .package fasttext-wheel") as caught:
        check("TrainModel", completed, log)
    assert caught.value.exit_code == 2 and caught.value.module == "fasttext"
    assert deps.from_step_output("ModuleNotFoundError: No module named 'pipelines.x'\n", "S") is None


@pytest.mark.parametrize(
    ("output", "module"),
    [
        (
            "Traceback (most recent call last):\n  ...\nModuleNotFoundError: No module named 'pandas'\n",
            "pandas",
        ),
        ("ModuleNotFoundError: No module named 'smclarify.bias'", "smclarify"),
        ("ModuleNotFoundError: No module named 'pipelines.reviews'\n", None),  # the project's own code
        ("warning: ModuleNotFoundError: No module named 'pandas', using csv\nValueError: bad row\n", None),
        ("", None),
    ],
)
def test_only_a_final_module_not_found_line_is_a_missing_dependency(output, module):
    found = deps.from_step_output(output, "Step")
    assert (found.module if found else None) == module


def test_the_named_packages_are_the_local_extra():
    # One fact in two places: what the `local` extra installs and what a missing module is told to install.
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    extra = {
        re.split(r"[<>=!\[; ]", req, maxsplit=1)[0]
        for req in pyproject["project"]["optional-dependencies"]["local"]
    }
    assert set(deps.LOCAL_PACKAGES.values()) == extra


@pytest.mark.parametrize("module", ["torch", "tensorflow", "transformers"])
def test_a_missing_framework_points_at_the_projects_pinned_install(module):
    """`pip install torch` unpinned pulls a multi-GB CUDA build: the hint is the project's own install."""
    from sagespec.local.deps import MissingDependency

    message = MissingDependency(module, "TrainModel").render()
    assert "make install" in message and f"pip install {module}" not in message
