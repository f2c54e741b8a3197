"""Run one step's command as a process of its own: stream its output, keep a log, turn failures into errors.

A Python step is forked from the run's fork server when there is one (see local/forkserver.py), else
started as a fresh interpreter; both are a process of their own with the same arguments, folder and
environment.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import DataError, LocalRunError
from . import forkserver
from .artifacts import text_tail
from .deps import from_step_output
from .startup_noise import is_startup_noise

EXIT_BAD_INPUT = 2  # the step scripts' (and the stand-ins') exit code for data that does not fit


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


def _pump(
    stream: IO[str], sink: list[str], log: IO[str], lock: threading.Lock, echo: Callable[[str], None] | None
) -> None:
    for line in iter(stream.readline, ""):
        sink.append(line)
        with lock:
            log.write(line)
            log.flush()
            if echo is not None:
                echo(line.rstrip("\n"))
    stream.close()


def run_command(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    echo: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> Completed:
    """Run ``command``; every line of stdout and stderr goes to ``log_path`` (and ``echo``).

    Setting ``stop`` (from ``echo``, say) terminates the command, as SageMaker stops a training job
    that a tuning job's early stopping gives up on; its return code then tells of the signal.

    The command gets a temporary folder of its own (TMPDIR), removed when it has ended, as a
    container's /tmp goes with it: a step stopped by a signal cannot clean up its temporary files.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    out: list[str] = []
    err: list[str] = []
    lock = threading.Lock()
    with (
        log_path.open("w", encoding="utf-8") as log,
        tempfile.TemporaryDirectory(prefix="sagespec-step-", ignore_cleanup_errors=True) as scratch,
    ):
        log.write("$ " + " ".join(command) + "\n")
        proc = _start(command, cwd, {**os.environ, **env, "TMPDIR": scratch})
        threads = [
            threading.Thread(target=_pump, args=(proc.stdout, out, log, lock, echo), daemon=True),
            threading.Thread(target=_pump, args=(proc.stderr, err, log, lock, echo), daemon=True),
        ]
        for t in threads:
            t.start()
        try:
            returncode = proc.wait() if stop is None else _wait_unless_stopped(proc, stop)
        except BaseException:  # KeyboardInterrupt: stop the child, keep what it wrote
            _terminate(proc)
            raise
        finally:
            for t in threads:
                t.join(timeout=10)
    return Completed(returncode, "".join(out), "".join(err))


@dataclass(frozen=True)
class Job:
    """One command of :func:`run_parallel`: what runs, where its log goes, where its lines are echoed."""

    command: Sequence[str]
    log_path: Path
    echo: Callable[[str], None] | None = None


def run_parallel(
    jobs: Sequence[Job], *, cwd: Path, env: Mapping[str, str]
) -> tuple[list[Completed], int | None]:
    """Run ``jobs`` at once (each as :func:`run_command` does) and wait for all of them.

    The first job to fail stops the others, as one failed instance fails a SageMaker processing job.
    Returns every job's outcome and the index of the job that failed first (None when all succeeded).
    """
    stop = threading.Event()
    lock = threading.Lock()
    results: list[Completed | None] = [None] * len(jobs)
    first_failure: list[int] = []

    def work(index: int) -> None:
        job = jobs[index]
        done = run_command(job.command, cwd=cwd, env=env, log_path=job.log_path, echo=job.echo, stop=stop)
        with lock:
            results[index] = done
            if done.returncode != 0 and not stop.is_set():
                first_failure.append(index)
                stop.set()

    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        futures = [pool.submit(work, index) for index in range(len(jobs))]
        try:
            for future in futures:
                future.result()
        except BaseException:  # KeyboardInterrupt, or a command that could not start: stop the rest
            stop.set()
            raise
    finished = [done for done in results if done is not None]
    assert len(finished) == len(jobs)
    return finished, (first_failure[0] if first_failure else None)


def _start(
    command: Sequence[str], cwd: Path, env: Mapping[str, str]
) -> subprocess.Popen[str] | forkserver.ForkedProcess:
    """The step's process: forked from the run's fork server, or a fresh one when that cannot be."""
    forked = forkserver.start(command, cwd=cwd, env=env)
    if forked is not None:
        return forked
    return subprocess.Popen(
        list(command), cwd=cwd, env=env, stdin=subprocess.DEVNULL, **forkserver.STEP_OUTPUT
    )


def _terminate(proc: subprocess.Popen[str] | forkserver.ForkedProcess) -> int:
    proc.terminate()
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def _wait_unless_stopped(
    proc: subprocess.Popen[str] | forkserver.ForkedProcess, stop: threading.Event, poll: float = 0.1
) -> int:
    while True:
        try:
            return proc.wait(timeout=poll)
        except subprocess.TimeoutExpired:
            if stop.is_set():
                return _terminate(proc)


def check(step: str, result: Completed, log_path: Path) -> None:
    """Raise the error a failed step stands for: MissingDependency (exit 2) when its script could not
    import a module, DataError (exit 2) for bad input, else LocalRunError."""
    if result.returncode == 0:
        return
    missing = from_step_output(result.stderr, step)
    if missing is not None:
        raise missing
    stderr, stdout = _without_startup_noise(result.stderr), _without_startup_noise(result.stdout)
    if result.returncode == EXIT_BAD_INPUT:
        message = text_tail(stderr, 8) or text_tail(stdout, 8) or "bad input (exit 2)"
        raise DataError(f"{step}: {message}")
    tail = text_tail(stderr or stdout, 15)
    how = (
        f"exit code {result.returncode}"
        if result.returncode > 0
        else f"killed by signal {-result.returncode}"
    )
    raise LocalRunError(f"{step} failed ({how}). Last lines of its output:\n{tail}\nfull log: {log_path}")


def _without_startup_noise(text: str) -> str:
    """``text`` less TensorFlow's start-up lines, which would otherwise head a failed step's message."""
    return "\n".join(line for line in text.splitlines() if not is_startup_noise(line))


DROPPED_ROWS_LINE = re.compile(r"^dropped (\d+) rows? (.*)$", re.MULTILINE)


def dropped_row_lines(logs: Iterable[Path]) -> list[str]:
    """What the data step said it dropped (rows without a text or a label), for the run's summary: the
    same line from several workers' logs (each about its share of the files) once, with their sum."""
    totals: dict[str, int] = {}
    for log in logs:
        for count, what in DROPPED_ROWS_LINE.findall(log.read_text(encoding="utf-8", errors="replace")):
            totals[what] = totals.get(what, 0) + int(count)
    return [f"dropped {n} {'row' if n == 1 else 'rows'} {what}" for what, n in totals.items()]
