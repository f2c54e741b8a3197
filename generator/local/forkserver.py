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
steps, what later steps need: the bias check's smclarify, the training and evaluation libraries.

What is preloaded is :data:`PRELOADABLE` as far as the project's scripts import it: pure CPU libraries
that are safe to fork. TensorFlow, PyTorch and CUDA are never preloaded (a forked CUDA context is
unusable). Only on Linux; elsewhere, or when a server cannot start, every step starts as a fresh
interpreter (``subprocess``). Set ``SAGESPEC_FRESH_PROCESSES=1`` for that everywhere.

The server side runs as ``python .../forkserver.py FD MODULE...`` (this file, not a module of the
package), so it imports nothing of sagespec's but what it is asked to preload.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import importlib
import json
import os
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

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
_PID = struct.Struct("!q")
_STATUS = struct.Struct("!i")
_FDS = 3  # the child's stdout, its stderr, and where its exit code is written


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


def data_libraries(project_dir: Path) -> list[str]:
    """What the first server imports for a project: :data:`DATA_LIBRARIES` that it uses."""
    return [module for module in preload_for(project_dir) if module in DATA_LIBRARIES]


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
            data = os.read(self._status, _STATUS.size)
            os.close(self._status)
            # No code at all: the server died before it could tell; the step counts as failed.
            self.returncode = _STATUS.unpack(data)[0] if len(data) == _STATUS.size else 1
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

    @classmethod
    def launch(cls, modules: Sequence[str], environment: Mapping[str, str]) -> ForkServer:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            process = subprocess.Popen(
                [sys.executable, __file__, str(theirs.fileno()), *modules],
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
        them down (see :func:`add`), and what this server has loaded it need not import again."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            pid = self._request({"serve": list(modules)}, [theirs.fileno()])
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        return ForkServer(ours, pid)

    def start(self, command: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> ForkedProcess:
        """Fork ``command`` (``[sys.executable, script, ...]`` or ``[sys.executable, "-m", module, ...]``)."""
        ours: list[int] = []
        theirs: list[int] = []
        for _ in range(_FDS):
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
                reply = self._socket.recv(_PID.size)
        except OSError as exc:
            raise ForkServerUnavailable("the fork server is not running") from exc
        if len(reply) != _PID.size:
            raise ForkServerUnavailable("the fork server is not running")
        self._answered = True
        return _PID.unpack(reply)[0]

    def close(self) -> None:
        """Stop the server. A spawned one is killed (it may still be importing: a run whose bias check
        came from the cache), and its parent reaps it. The first one, once it has answered, is let go:
        it reaps what it forked (so that their CPU time is counted as the run's) and exits; one still
        importing is killed. Its children, the steps, are processes the callers have waited for."""
        self._socket.close()
        if self._process is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            return
        try:
            self._process.wait(timeout=5 if self._answered else 0)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


_servers: dict[str | None, ForkServer] = {}  # the run's: None the first, else by the name add() gave it
_current: list[str | None] = [None]  # the server the running step forks from (see using())


@contextlib.contextmanager
def serving(modules: Sequence[str], environment: Mapping[str, str]) -> Iterator[None]:
    """Within the block, :func:`start` forks Python steps from a server that preloaded ``modules``
    (or from one that :func:`add` made, in :func:`using`)."""
    if not _supported() or _servers:
        yield
        return
    try:
        _servers[None] = ForkServer.launch(modules, environment)
    except OSError:
        yield  # no server: every step starts fresh
        return
    try:
        yield
    finally:
        # The spawned ones first: their parent reaps them.
        for server in reversed(_servers.values()):
            server.close()
        _servers.clear()


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
    first = _servers.get(None)
    if first is not None and name not in _servers:
        with contextlib.suppress(OSError):
            _servers[name] = first.spawn(modules)


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


def start(command: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> ForkedProcess | None:
    """The step forked from the run's server; None when it is to start as a fresh process (no server,
    not a Python command of this interpreter, or the server is gone)."""
    if not _servers or len(command) < 2 or command[0] != sys.executable:
        return None
    if command[1].startswith("-") and (command[1] != "-m" or len(command) < 3):
        return None
    server = _servers.get(_current[0]) or _servers[None]
    try:
        return server.start(command, cwd=cwd, env=env)
    except ForkServerUnavailable:
        return None


def _supported() -> bool:
    return sys.platform == "linux" and os.environ.get(FRESH_PROCESSES_VARIABLE, "") in ("", "0")


# ------------------------------------------------------------------------------------------ server side
def _serve(control: socket.socket, modules: Sequence[str]) -> None:
    """Import ``modules``, then fork what is asked for (requests wait meanwhile) until the runner is done:
    a step (a request with its argv, folder and environment, and three descriptors: its stdout, its
    stderr, where its exit code goes), or a server importing more (``serve``, with its socket)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the steps (and the runner)
    for name in modules:
        with contextlib.suppress(Exception):  # the step imports it again and reports the failure
            importlib.import_module(name)
    # What is loaded stays out of the children's garbage collections: walking it would cost each step
    # time and copy the pages its fork shares with this process.
    gc.freeze()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_write)
    status_fds: dict[int, int] = {}  # child pid -> where its exit code goes (a step's)
    with selectors.DefaultSelector() as selector:
        selector.register(control, selectors.EVENT_READ)
        selector.register(wake_read, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fileobj is not control:
                    with contextlib.suppress(BlockingIOError):
                        while os.read(wake_read, 512):
                            pass
                    _reap(status_fds)
                    continue
                try:
                    message, fds, _, _ = socket.recv_fds(control, 1 << 20, _FDS)
                except OSError:
                    message, fds = b"", []
                request = json.loads(message) if message else {}
                serves = "serve" in request
                if len(fds) != (1 if serves else _FDS):
                    _reap_all()  # the runner is done (or gone): the servers spawned from this one too
                    return
                pid = os.fork()
                if pid == 0:
                    if serves:  # a server of its own, on the socket it was sent
                        for fd in (control.fileno(), wake_read, wake_write, *status_fds.values()):
                            os.close(fd)
                        with contextlib.suppress(BaseException):
                            _serve(socket.socket(fileno=fds[0]), request["serve"])
                        os._exit(0)
                    _child(request, fds)
                if serves:
                    os.close(fds[0])
                else:
                    os.close(fds[0])
                    os.close(fds[1])
                    status_fds[pid] = fds[2]
                control.send(_PID.pack(pid))


def _reap_all() -> None:
    """Wait for every child still there (spawned servers the runner has killed)."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    with contextlib.suppress(ChildProcessError):
        while True:
            os.waitpid(-1, 0)


def _reap(status_fds: dict[int, int]) -> None:
    """Collect every child that ended (a step, or a server spawned from this one); tell a step's code."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        fd = status_fds.pop(pid, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.write(fd, _STATUS.pack(os.waitstatus_to_exitcode(status)))
            os.close(fd)


def _child(request: dict[str, object], fds: list[int]) -> None:
    """In the forked child: become the step's process, run its script, exit as the interpreter would."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        stdout, stderr, _status = fds
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        # As a fresh process started by subprocess (close_fds): nothing open but stdin, stdout and
        # stderr; not the server's sockets, nor the pipes of the steps running beside this one.
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        os.chdir(str(request["cwd"]))
        os.environ.clear()
        os.environ.update(request["env"])  # type: ignore[arg-type]
        code = _run(list(request["argv"]))  # type: ignore[arg-type]
    except BaseException:  # noqa: BLE001 - whatever happened, the child must not return into the server
        with contextlib.suppress(BaseException):
            sys.excepthook(*sys.exc_info())  # type: ignore[arg-type]
    finally:
        os._exit(code)


def _run(argv: list[str]) -> int:
    """Run ``argv`` (a script and its arguments, or ``-m module ...``) as ``python`` would, return the
    exit code. Ends as the interpreter ends: non-daemon threads joined, atexit handlers, streams flushed."""
    import atexit
    import runpy

    interrupted = False
    try:
        if argv[0] == "-m":
            sys.argv = [argv[1], *argv[2:]]
            sys.path[0] = os.getcwd()
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)  # argv[0]: the module's file
        else:
            sys.argv = list(argv)
            _run_script(os.path.abspath(argv[0]))
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException as exc:  # noqa: BLE001 - printed as the interpreter prints an uncaught exception
        _print_uncaught(exc, runpy.__file__)
        code, interrupted = 1, isinstance(exc, KeyboardInterrupt)
    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined]  # what the interpreter does at exit
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    if interrupted:  # as the interpreter does after an uncaught KeyboardInterrupt: die of SIGINT
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return code


def _run_script(path: str) -> None:
    """Execute the script at ``path`` as ``__main__``, as ``python <script>`` does: its folder first on
    ``sys.path``, ``__file__`` absolute while ``sys.argv[0]`` stays as given, its frames named by
    ``path``. (runpy.run_path would set ``sys.argv[0]`` to the path it is given.)"""
    import builtins
    import io
    import types
    from importlib.machinery import SourceFileLoader

    sys.path[0] = os.path.dirname(path)
    with io.open_code(path) as source:
        code = compile(source.read(), path, "exec", dont_inherit=True)
    main = types.ModuleType("__main__")
    main.__dict__.update(
        __file__=path,
        __cached__=None,
        __builtins__=builtins,
        __loader__=SourceFileLoader("__main__", path),
    )
    sys.modules["__main__"] = main
    exec(code, main.__dict__)


def _print_uncaught(exc: BaseException, runner_file: str) -> None:
    """The traceback from the script's own frame on, as ``python <script>`` prints it (without the
    frames of this module and runpy that ran it)."""
    skipped = {__file__, runner_file, "<frozen runpy>"}
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in skipped:
        tb = tb.tb_next
    with contextlib.suppress(BaseException):
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)


def _exit_code(value: object) -> int:
    """The process exit code of ``sys.exit(value)``."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    with contextlib.suppress(BaseException):
        print(value, file=sys.stderr)
    return 1


if __name__ == "__main__":
    _serve(socket.socket(fileno=int(sys.argv[1])), sys.argv[2:])
    # Nothing to clean up, and the interpreter's own finalization of what it imported takes 0.2 s that
    # the runner would wait for.
    os._exit(0)
