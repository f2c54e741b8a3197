"""Steps forked from the run's fork server behave as the fresh interpreters they replace.

Each case runs the same command twice through run_command, once as a fresh ``python`` and once forked
from a server, and compares everything a script can see or show: its arguments, folder, environment,
``sys.path``, ``__name__`` and ``__file__``, its output and its exit code (a traceback, ``sys.exit``
with a message, an uncaught Ctrl-C, exit handlers and threads still running at the end).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from sagespec.local import forkserver
from sagespec.local.process import Job, run_command, run_parallel

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the fork server runs on Linux only")

PROBE = """
import atexit, json, os, sys, tempfile, threading, time

def report():
    print(json.dumps({
        "argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ), "path": sys.path,
        "tempdir": tempfile.gettempdir(),
        "name": __name__, "file": __file__, "stdin": sys.stdin.read(),
        "preloaded": "colorsys" in sys.modules, "fds": sorted(os.listdir("/proc/self/fd")),
    }))

report()
atexit.register(lambda: print("atexit ran"))
threading.Thread(target=lambda: (time.sleep(0.2), print("thread finished"))).start()
print("to stderr", file=sys.stderr)
"""

ENDINGS = {
    "returns": "",
    "exit code": "sys.exit(3)",
    "exit message": "sys.exit('the data does not fit')",
    "exception": "def fail():\n    raise ValueError('boom')\nfail()",
    "interrupt": "raise KeyboardInterrupt",
}


def _run(tmp_path: Path, command: list[str], name: str, how: str = "fresh"):
    """``command`` through run_command: a fresh interpreter, forked from a server that preloaded
    colorsys, or run by a waiting interpreter that imported it (where steps are not forked)."""
    env = {"SAGESPEC_PROBE": "1", "PYTHONUNBUFFERED": "1"}
    log = tmp_path / f"{name}-{how}.log"
    if how == "fresh":
        return run_command(command, cwd=tmp_path, env=env, log_path=log)
    with pytest.MonkeyPatch.context() as patch:
        if how == "warm":
            patch.setenv(forkserver.FRESH_PROCESSES_VARIABLE, "1")
        with forkserver.serving(["colorsys"] if how == "forked" else [], {}):
            forkserver.add("probe", ["colorsys"])
            seen: list[object] = []
            started = forkserver.start
            patch.setattr(forkserver, "start", lambda *a, **k: seen.append(started(*a, **k)) or seen[-1])
            with forkserver.using("probe"):
                done = run_command(command, cwd=tmp_path, env=env, log_path=log)
    assert seen and seen[0] is not None, f"the command was not {how}"
    return done


def _seen(done) -> tuple[dict, list[str]]:
    """What the probe saw, less its temporary folder (each run has its own), and what it printed after."""
    first, *rest = done.stdout.splitlines()
    seen = json.loads(first)
    scratch = seen["env"].pop("TMPDIR")
    assert seen.pop("tempdir") == scratch and Path(scratch).name.startswith("sagespec-step-")
    assert not Path(scratch).exists()  # removed once the step ended
    return seen, rest


@pytest.mark.parametrize("how", ["forked", "warm"])
@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_a_forked_or_waiting_script_sees_and_shows_what_a_fresh_interpreter_does(tmp_path, ending, how):
    script = tmp_path / "steps" / "probe.py"
    script.parent.mkdir()
    script.write_text(PROBE + ENDINGS[ending] + "\n")
    command = [sys.executable, "steps/probe.py", "--flag", "a value with spaces", "ünïcode"]
    fresh = _run(tmp_path, command, ending)
    forked = _run(tmp_path, command, ending, how)
    assert forked.returncode == fresh.returncode
    assert forked.stderr == fresh.stderr
    fresh_seen, fresh_rest = _seen(fresh)
    forked_seen, forked_rest = _seen(forked)
    assert forked_rest == fresh_rest
    assert forked_seen.pop("preloaded") is True
    assert fresh_seen.pop("preloaded") is False
    forked_seen["env"].pop(forkserver.FRESH_PROCESSES_VARIABLE, None)  # what the warm case sets to be one
    assert forked_seen == fresh_seen
    # what each ending means, so that both sides agreeing on nothing cannot pass
    expected = {"returns": 0, "exit code": 3, "exit message": 1, "exception": 1, "interrupt": -signal.SIGINT}
    assert fresh.returncode == expected[ending]
    assert fresh_rest[-2:] == ["thread finished", "atexit ran"]  # threads joined, then exit handlers


def test_a_module_run_with_dash_m_sees_what_a_fresh_interpreter_does(tmp_path):
    (tmp_path / "probe_module.py").write_text(PROBE)
    command = [sys.executable, "-m", "probe_module", "x"]
    fresh, forked = (_run(tmp_path, command, "module", how) for how in ("fresh", "forked"))
    fresh_seen, _ = _seen(fresh)
    forked_seen, _ = _seen(forked)
    for seen in (fresh_seen, forked_seen):
        seen.pop("preloaded")
    assert forked_seen == fresh_seen
    assert forked_seen["argv"] == [str(tmp_path / "probe_module.py"), "x"]
    assert forked.returncode == fresh.returncode == 0


def test_a_stopped_step_dies_of_sigterm_as_a_fresh_one_does(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text("import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    stop = threading.Event()

    def echo(line: str) -> None:
        if line == "started":
            stop.set()

    with forkserver.serving([], {}):
        began = time.monotonic()
        done = run_command(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env={},
            log_path=tmp_path / "log",
            echo=echo,
            stop=stop,
        )
    assert done.returncode == -signal.SIGTERM
    assert time.monotonic() - began < 30


@pytest.mark.parametrize("forked", [False, True])
def test_a_stopped_step_leaves_no_temporary_files_behind(tmp_path, forked):
    script = tmp_path / "slow.py"
    script.write_text(
        "import tempfile, time\n"
        "with tempfile.NamedTemporaryFile(delete=False) as f:\n"
        "    print(f.name, flush=True)\n"
        "time.sleep(60)\n"
    )
    made: list[Path] = []
    stop = threading.Event()

    def echo(line: str) -> None:
        made.append(Path(line))
        stop.set()

    command = [sys.executable, str(script)]
    with forkserver.serving([], {}) if forked else contextlib.nullcontext():
        done = run_command(command, cwd=tmp_path, env={}, log_path=tmp_path / "log", echo=echo, stop=stop)
    assert done.returncode == -signal.SIGTERM  # killed: no clean-up of its own ran
    assert made and made[0].parent.name.startswith("sagespec-step-")
    assert not made[0].parent.exists()


def test_parallel_workers_each_get_their_own_process_and_output(tmp_path):
    script = tmp_path / "worker.py"
    # each one alive while the others start: none may hold another's pipes (or the server's sockets)
    script.write_text(
        "import os, sys, time\ntime.sleep(0.3)\n"
        "print(sys.argv[1], os.getpid(), len(os.listdir('/proc/self/fd')))\n"
    )
    jobs = [Job([sys.executable, str(script), str(index)], tmp_path / f"{index}.log") for index in range(6)]
    with forkserver.serving([], {}):
        results, failed = run_parallel(jobs, cwd=tmp_path, env={})
    fresh = run_command([sys.executable, str(script), "0"], cwd=tmp_path, env={}, log_path=tmp_path / "log")
    pids = set()
    for index, done in enumerate(results):
        number, pid, fds = done.stdout.split()
        assert int(number) == index
        assert fds == fresh.stdout.split()[2]
        pids.add(pid)
    assert len(pids) == len(jobs)
    assert failed is None


def test_without_a_server_a_step_starts_as_a_fresh_process(tmp_path, monkeypatch):
    script = tmp_path / "ok.py"
    script.write_text("print('ran')\n")
    command = [sys.executable, str(script)]
    assert forkserver.start(command, cwd=tmp_path, env={}) is None  # no run in progress
    with forkserver.serving([], {}):
        forkserver._servers[None]._process.kill()  # the server died
        forkserver._servers[None]._process.wait()
        assert forkserver.start(command, cwd=tmp_path, env={}) is None
        assert run_command(command, cwd=tmp_path, env={}, log_path=tmp_path / "log").stdout == "ran\n"
    monkeypatch.setenv(forkserver.FRESH_PROCESSES_VARIABLE, "1")
    with forkserver.serving([], {}):
        assert not forkserver._servers
        assert forkserver.start(command, cwd=tmp_path, env={}) is None


def test_only_python_commands_of_this_interpreter_are_forked(tmp_path):
    with forkserver.serving([], {}):
        for command in (["/bin/echo", "x"], [sys.executable, "-c", "print(1)"], [sys.executable, "-m"]):
            assert forkserver.start(command, cwd=tmp_path, env={}) is None


def test_the_server_preloads_what_the_projects_scripts_import_of_the_safe_libraries(tmp_path):
    package = tmp_path / "pipelines" / "pkg"
    package.mkdir(parents=True)
    (package / "prepare.py").write_text("import pandas as pd\nimport pyarrow.parquet as pq\n")
    (package / "evaluate.py").write_text(
        textwrap.dedent(
            """
            def plot():
                import matplotlib.pyplot as plt
            def train():
                import torch, tensorflow
                from transformers import AutoModel
            """
        )
    )
    (package / "broken.py").write_text("def (:\n")
    (tmp_path / "explore.py").write_text("import fasttext\n")  # not a step's: outside pipelines/
    assert forkserver.preload_for(tmp_path) == ["pandas", "pyarrow.parquet", "matplotlib.pyplot"]


def test_an_added_server_serves_the_steps_run_in_using_it_with_the_first_servers_modules_and_its_own(
    tmp_path,
):
    script = tmp_path / "which.py"
    script.write_text("import sys\nprint(*(name in sys.modules for name in ('colorsys', 'json.tool')))\n")
    command = [sys.executable, str(script)]

    def loaded() -> list[str]:
        return run_command(command, cwd=tmp_path, env={}, log_path=tmp_path / "log").stdout.split()

    with forkserver.serving(["colorsys"], {}):
        forkserver.add("extra", ["json.tool"])
        assert loaded() == ["True", "False"]
        with forkserver.using("extra"):
            assert loaded() == ["True", "True"]
        with forkserver.using("no such server"):  # the first one
            assert loaded() == ["True", "False"]


def test_the_servers_are_gone_after_the_run(tmp_path):
    script = tmp_path / "ok.py"
    script.write_text("print('ran')\n")
    with forkserver.serving([], {}):
        forkserver.add("extra", ["json.tool"])
        # a step's request also reads the answer to the spawn request before it (the spawned pid)
        assert run_command(
            [sys.executable, str(script)], cwd=tmp_path, env={}, log_path=tmp_path / "log"
        ).stdout
        pids = [server._pid for server in forkserver._servers.values()]
        assert len(pids) == 2 and all(pids)
    assert not forkserver._servers
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_run_that_forks_nothing_does_not_wait_for_its_servers_imports(tmp_path):
    """All steps from the cache: the servers are stopped while they still import, not waited for."""
    with forkserver.serving(["json.tool"], {}):
        forkserver.add("extra", ["colorsys"])  # sent, not answered: the first server still starts
        first = forkserver._servers[None]
    assert first._process.returncode is not None  # stopped with the run, not left behind


def test_a_blazingtext_run_forks_every_step_process_from_a_server_with_its_libraries(
    blazingtext_run, helpers, tmp_path, monkeypatch
):
    project = helpers.copy_project(blazingtext_run.project, tmp_path / "proj")
    assert forkserver.preload_for(project) == [
        "pandas",
        "pyarrow.parquet",
        "numpy",
        "fasttext",
        "matplotlib.pyplot",
    ]
    assert forkserver.data_libraries(forkserver.preload_for(project)) == [
        "pandas",
        "pyarrow.parquet",
        "numpy",
    ]
    forked: list[str] = []
    start = forkserver.ForkServer.start

    servers: dict[str, int] = {}

    def counting(self, command, **kwargs):
        process = start(self, command, **kwargs)
        forked.append(Path(command[1]).name if command[1] != "-m" else command[2])
        servers[forked[-1]] = id(self)
        return process

    monkeypatch.setattr(forkserver.ForkServer, "start", counting)
    result = helpers.run_cli(["local", "run", str(project), "--no-cache", "-q"])
    assert result.code == 0, result.text
    # three servers: the data steps' (and training's), the bias check's (smclarify's imports beside the
    # data steps), and the one for evaluation (fastText and matplotlib, imported while the bias check runs)
    assert servers["prepare.py"] == servers["preprocess.py"] == servers["sagespec.local.blazingtext"]
    assert len({servers[name] for name in ("prepare.py", "sagespec.local.bias_job", "evaluate.py")}) == 3
    assert forked == [
        "prepare.py",
        "preprocess.py",
        "sagespec.local.bias_job",
        "sagespec.local.blazingtext",
        "evaluate.py",
    ]


def test_the_runners_own_process_loads_neither_pandas_nor_smclarify(blazingtext_run, helpers, tmp_path):
    """The bias check computes in a process of its own: the runner stays small and its start quick."""
    project = helpers.copy_project(blazingtext_run.project, tmp_path / "proj")
    code = (
        "import sys; from sagespec.cli import main; "
        f"code = main(['local', 'run', {str(project)!r}, '--no-cache', '-q']); "
        "print(code, *(name in sys.modules for name in ('pandas', 'smclarify', 'sklearn')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[-4:] == ["0", "False", "False", "False"]


def test_where_steps_are_not_forked_the_added_ones_run_in_interpreters_started_ahead(
    blazingtext_run, helpers, tmp_path, monkeypatch
):
    """Off Linux (or with SAGESPEC_FRESH_PROCESSES=1) the bias check and evaluation each get a fresh
    interpreter that imports their libraries while the steps before them run; the rest start fresh."""
    monkeypatch.setenv(forkserver.FRESH_PROCESSES_VARIABLE, "1")
    project = helpers.copy_project(blazingtext_run.project, tmp_path / "proj")
    ran: list[str] = []
    start = forkserver.WarmInterpreter.start

    def counting(self, command, **kwargs):
        ran.append(Path(command[1]).name if command[1] != "-m" else command[2])
        return start(self, command, **kwargs)

    monkeypatch.setattr(forkserver.WarmInterpreter, "start", counting)
    result = helpers.run_cli(["local", "run", str(project), "--no-cache", "-q"])
    assert result.code == 0, result.text
    assert ran == ["sagespec.local.bias_job", "evaluate.py"]


def test_a_waiting_interpreter_no_step_came_for_is_stopped(tmp_path, monkeypatch):
    monkeypatch.setenv(forkserver.FRESH_PROCESSES_VARIABLE, "1")
    with forkserver.serving([], {}):
        forkserver.add("unused", ["colorsys"])
        waiting = forkserver._servers["unused"]
        assert isinstance(waiting, forkserver.WarmInterpreter)
    assert waiting._process.returncode is not None
