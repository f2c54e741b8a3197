"""Step processes forked from an interpreter that has already imported the libraries the steps use.

A step is ``python <script> ...`` (or ``python -m <module> ...``), a process of its own under the
container contract. Most of a small step's time is the interpreter starting and importing pandas,
NumPy, matplotlib and fastText (0.3 s for pandas alone), the same imports in every step. So a run
starts a server process, with the steps' environment, that imports them once (while the runner itself
starts up); each step is then a fork of it: a new process, with its own pid, its own
stdin/stdout/stderr (and no other open files), working folder, environment and ``sys.argv``, running
the script as ``__main__`` as ``python <script>`` would, only without paying for those imports again.
This is multiprocessing's forkserver with a preload list (``set_forkserver_preload``), except that the
child runs a script instead of a function, exits as the interpreter does (non-daemon threads joined,
``atexit`` handlers run, the exit code of ``sys.exit``, death by SIGINT after an uncaught Ctrl-C) and
reports that code to the runner.

A server imports everything before it forks anything (a step forked while its server still imports
runs three times slower: see :func:`add`). So the first server imports only what the data steps need
(:data:`DATA_LIBRARIES`), and forks servers of their own that import on top of that, beside the data
steps, what later steps need: the bias check's smclarify, the evaluation's libraries.

What is preloaded is :data:`PRELOADABLE` as far as the project's scripts import it: CPU libraries that
processes forked with them loaded are known to use (pandas starts pyarrow's jemalloc thread and
OpenBLAS its workers, both with fork handlers, as in any multiprocessing "fork" pool). TensorFlow,
PyTorch and CUDA are never preloaded (a forked CUDA context is unusable). Only on Linux; elsewhere, with
``SAGESPEC_FRESH_PROCESSES=1``, or when a server cannot start, every step is a fresh interpreter
(``subprocess``), the bias check's and the evaluation's started ahead (:class:`WarmInterpreter`).

The servers' side is local/forkserver_process.py, run as a file: it imports nothing of sagespec's but
what it is asked to preload.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from . import forkserver_process
from .forkserver_process import FDS, PID, STATUS, WARM

# Top-level module a script imports -> what the server imports for it, in the order it imports them:
# what the first steps (the data steps) need first.
PRELOADABLE = {
    "pandas": "pandas",
    "pyarrow": "pyarrow.parquet",
    "numpy": "numpy",
    "fasttext": "fasttext",
    "matplotlib": "matplotlib.pyplot",
}
# What the first server of a run imports: the data steps' libraries, as soon as the run starts. The
# rest come from servers added for the steps after them (see add).
DATA_LIBRARIES = ("pandas", "pyarrow.parquet", "numpy")
FRESH_PROCESSES_VARIABLE = "SAGESPEC_FRESH_PROCESSES"
# How a step's process started with subprocess gives its output: text pipes, line by line, as the
# runner reads them (a forked step's are opened alike, see ForkedProcess).
STEP_OUTPUT = {
    "stdout": subprocess.PIPE,
    "stderr": subprocess.PIPE,
    "text": True,
    "encoding": "utf-8",
    "errors": "replace",
    "bufsize": 1,
}


# ------------------------------------------------------------------------------------------ runner side
def preload_for(project_dir: Path) -> list[str]:
    """What to preload for a project's steps: the :data:`PRELOADABLE` libraries that its Python files
    under ``pipelines/`` import anywhere (inside functions too), in that order. (BlazingText's stand-in
    trains with the fastText that the project's inference.py imports.)"""
    imported: set[str] = set()
    for source in sorted(project_dir.glob("pipelines/*/*.py")):
        try:
            tree = ast.parse(source.read_bytes(), str(source))
        except (OSError, SyntaxError, ValueError):
            continue  # the step reports its own broken script
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    return [module for name, module in PRELOADABLE.items() if name in imported]


def data_libraries(libraries: Sequence[str]) -> list[str]:
    """What the first server imports of a project's ``libraries`` (preload_for's): the data steps'."""
    return [module for module in libraries if module in DATA_LIBRARIES]


class ForkServerUnavailable(OSError):
    """The server is gone (it could not start, or died): the step starts as a fresh process instead."""


class ForkedProcess:
    """A step forked by the server, with the part of :class:`subprocess.Popen` that run_command uses."""

    def __init__(self, args: Sequence[str], pid: int, stdout: int, stderr: int, status: int):
        self.args = list(args)
        self.pid = pid
        self.stdout = open(stdout, encoding="utf-8", errors="replace", closefd=True)  # noqa: SIM115
        self.stderr = open(stderr, encoding="utf-8", errors="replace", closefd=True)  # noqa: SIM115
        self._status = status
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        """The exit code, as Popen gives it (minus the signal for a process killed by one)."""
        if self.returncode is None:
            poller = select.poll()  # not select.select: a descriptor may be above FD_SETSIZE
            poller.register(self._status, select.POLLIN)
            if not poller.poll(None if timeout is None else max(0, int(timeout * 1000))):
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            data = os.read(self._status, STATUS.size)
            os.close(self._status)
            # No code at all: the server died before it could tell; the step counts as failed.
            self.returncode = STATUS.unpack(data)[0] if len(data) == STATUS.size else 1
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """A server of one run: a process started with ``environment`` (the steps' offline variables, which
    libraries such as matplotlib read when imported) importing ``modules`` (:meth:`launch`), or one that
    such a server forked to import more (:meth:`spawn`)."""

    def __init__(self, control: socket.socket, pid: int, process: subprocess.Popen[bytes] | None = None):
        self._lock = threading.Lock()
        self._socket = control
        self._pid = pid
        self._process = process  # None: a spawned server, a child of another server (which reaps it)
        self._answered = False  # whether it has imported its modules and answered a request
        self._pending: list[ForkServer] = []  # spawned from it, their pid still to be read

    @classmethod
    def launch(cls, modules: Sequence[str], environment: Mapping[str, str]) -> ForkServer:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            process = subprocess.Popen(
                [sys.executable, forkserver_process.__file__, str(theirs.fileno()), *modules],
                pass_fds=[theirs.fileno()],
                env={**os.environ, **environment},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return cls(ours, process.pid, process)

    def spawn(self, modules: Sequence[str]) -> ForkServer:
        """A server forked from this one (once it has imported its own modules) that imports ``modules``
        on top and serves after. A sibling of the steps, not their parent: its imports do not slow
        them down (see :func:`add`), and what this server has loaded it need not import again.

        The request is sent without waiting for this server to finish its imports: its answer (the new
        server's pid) is read with the next one's, so that a run whose steps come from the cache does
        not wait for imports it never uses."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        spawned = ForkServer(ours, 0)
        try:
            with self._lock:
                socket.send_fds(
                    self._socket, [json.dumps({"serve": list(modules)}).encode()], [theirs.fileno()]
                )
                self._pending.append(spawned)
        except OSError as exc:
            ours.close()
            raise ForkServerUnavailable("the fork server is not running") from exc
        finally:
            theirs.close()
        return spawned

    def start(self, command: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> ForkedProcess:
        """Fork ``command`` (``[sys.executable, script, ...]`` or ``[sys.executable, "-m", module, ...]``)."""
        ours: list[int] = []
        theirs: list[int] = []
        for _ in range(FDS):
            read, write = os.pipe()
            ours.append(read)
            theirs.append(write)
        try:
            pid = self._request({"argv": list(command[1:]), "cwd": str(cwd), "env": dict(env)}, theirs)
        except BaseException:
            for fd in ours:
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        return ForkedProcess(command, pid, *ours)

    def _request(self, request: dict[str, object], fds: Sequence[int]) -> int:
        """Send ``request`` with ``fds``; the pid of the process the server forked for it."""
        try:
            with self._lock:
                socket.send_fds(self._socket, [json.dumps(request).encode()], fds)
                self._collect_spawned()
                reply = self._socket.recv(PID.size)
        except OSError as exc:
            raise ForkServerUnavailable("the fork server is not running") from exc
        if len(reply) != PID.size:
            raise ForkServerUnavailable("the fork server is not running")
        self._answered = True
        return PID.unpack(reply)[0]

    def _collect_spawned(self) -> None:
        """Read the answers to spawn requests (they come first, in order), under the lock."""
        for spawned in self._pending:
            reply = self._socket.recv(PID.size)
            spawned._pid = PID.unpack(reply)[0] if len(reply) == PID.size else 0
        self._pending.clear()

    def collect_spawned(self) -> None:
        """The pids of the servers spawned from this one, once it has answered anything (it is serving,
        so they come at once); those of a server still importing are left unread."""
        if self._answered:
            with self._lock, contextlib.suppress(OSError):
                self._collect_spawned()

    def close(self) -> None:
        """Stop the server. A spawned one is killed (it may still be importing: a run whose bias check
        came from the cache), and its parent reaps it. The first one, once it has answered, is let go:
        it reaps what it forked (so that their CPU time is counted as the run's) and exits; one still
        importing is killed. Its children, the steps, are processes the callers have waited for."""
        self._socket.close()
        if self._process is None:
            if self._pid:  # else never forked, or its pid never read: it exits on its socket's end
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self._pid, signal.SIGKILL)
            return
        try:
            self._process.wait(timeout=5 if self._answered else 0)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


class WarmInterpreter:
    """Where steps cannot be forked (not Linux, or ``SAGESPEC_FRESH_PROCESSES=1``): a fresh interpreter
    started ahead of the one step it is for, which imports that step's libraries while the steps before
    it run, then reads the step's arguments, folder and environment from its stdin and runs it in
    itself (no fork). What :func:`add` makes there, for the bias check's smclarify above all."""

    def __init__(self, modules: Sequence[str], environment: Mapping[str, str]):
        self._process = subprocess.Popen(
            [sys.executable, forkserver_process.__file__, WARM, *modules],
            env={**os.environ, **environment},
            stdin=subprocess.PIPE,
            **STEP_OUTPUT,
        )
        self._started = False

    def start(self, command: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> subprocess.Popen[str]:
        """Run ``command`` in the waiting interpreter: the process itself, to read and wait for."""
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(
                json.dumps({"argv": list(command[1:]), "cwd": str(cwd), "env": dict(env)}) + "\n"
            )
            self._process.stdin.close()
        except OSError as exc:
            raise ForkServerUnavailable("the waiting interpreter is gone") from exc
        self._started = True
        return self._process

    def close(self) -> None:
        """Stop it if no step came for it (its step's caller has waited for it otherwise)."""
        if not self._started:
            self._process.kill()
            self._process.communicate()


_servers: dict[str | None, ForkServer | WarmInterpreter] = {}  # the run's: None the first, else add()'s
_warm_environment: list[Mapping[str, str]] = []  # serving()'s environment, where add() starts interpreters
_current: list[str | None] = [None]  # the server the running step forks from (see using())


@contextlib.contextmanager
def serving(modules: Sequence[str], environment: Mapping[str, str]) -> Iterator[None]:
    """Within the block, :func:`start` forks Python steps from a server that preloaded ``modules``
    (or from one that :func:`add` made, in :func:`using`)."""
    if _servers or _warm_environment:
        yield  # already serving (the CLI started it before the runner)
        return
    if not _supported():
        _warm_environment.append(environment)  # add() starts waiting interpreters instead
    else:
        with contextlib.suppress(OSError):  # no server: every step starts fresh
            _servers[None] = ForkServer.launch(modules, environment)
    try:
        yield
    finally:
        first = _servers.get(None)
        if isinstance(first, ForkServer):
            first.collect_spawned()
        # The spawned ones first: their parent reaps them.
        for server in reversed(_servers.values()):
            server.close()
        _servers.clear()
        _warm_environment.clear()


def add(name: str, modules: Sequence[str]) -> None:
    """Within :func:`serving`, a server named ``name`` that imports ``modules`` on top of the first one's,
    for the steps run in ``using(name)``: forked from the first server once that has imported its own,
    while the steps it serves run beside it.

    Why not import everything in one server: a forked step that runs while its server imports runs three
    times slower (here, 0.9 s instead of 0.3 s: the two share every page, and the server's imports fault
    on them as the step does), while a sibling's imports cost it nothing measurable. So a server imports
    everything first and serves after: the first one what the data steps need, the ones added here what
    later steps need (the bias check's smclarify, scikit-learn and SciPy: 1.3 s), beside the data steps.
    """
    if name in _servers:
        return
    first = _servers.get(None)
    with contextlib.suppress(OSError):
        if isinstance(first, ForkServer):
            _servers[name] = first.spawn(modules)
        elif _warm_environment:
            _servers[name] = WarmInterpreter(modules, _warm_environment[0])


@contextlib.contextmanager
def using(name: str | None) -> Iterator[None]:
    """Within the block, steps fork from the server :func:`add` named ``name`` (the first server when
    there is none of that name): the runner's one step at a time, with every process it starts from any
    thread (tuning trials, sharded workers)."""
    before = _current[0]
    _current[0] = name
    try:
        yield
    finally:
        _current[0] = before


def start(
    command: Sequence[str], *, cwd: Path, env: Mapping[str, str]
) -> ForkedProcess | subprocess.Popen[str] | None:
    """The step forked from the run's server (or run by the interpreter waiting for it); None when it
    is to start as a fresh process (no server, not a Python command of this interpreter, or the server
    is gone)."""
    if not _servers or len(command) < 2 or command[0] != sys.executable:
        return None
    if command[1].startswith("-") and (command[1] != "-m" or len(command) < 3):
        return None
    server = _servers.get(_current[0]) or _servers.get(None)
    if isinstance(server, WarmInterpreter):
        del _servers[_current[0]]  # it runs one step; the next one of this name starts fresh
    if server is None:
        return None
    try:
        return server.start(command, cwd=cwd, env=env)
    except ForkServerUnavailable:
        return None


def _supported() -> bool:
    return sys.platform == "linux" and os.environ.get(FRESH_PROCESSES_VARIABLE, "") in ("", "0")
