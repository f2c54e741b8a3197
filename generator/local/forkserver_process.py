"""What runs in the processes of local/forkserver.py: a fork server (``python forkserver_process.py FD
MODULE...``), a waiting interpreter (``... --warm MODULE...``), and the step each of them runs as
``python <script>`` would.

It is run as a file, not as a module of the package, and imports nothing of sagespec's: a step must not
find the runner's modules loaded, only what its server was asked to preload.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import struct
import sys
import tempfile
import threading
from collections.abc import Sequence

PID = struct.Struct("!q")  # a server's answer: the pid of what it forked
STATUS = struct.Struct("!i")  # a step's exit code, as Popen gives it
FDS = 3  # sent with a step: its stdout, its stderr, and where its exit code is written
WARM = "--warm"


def _serve(control: socket.socket, modules: Sequence[str]) -> None:
    """Import ``modules``, then fork what is asked for (requests wait meanwhile) until the runner is done:
    a step (a request with its argv, folder and environment, and three descriptors: its stdout, its
    stderr, where its exit code goes), or a server importing more (``serve``, with its socket)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the steps (and the runner)
    _import_all(modules)
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
                    message, fds, _, _ = socket.recv_fds(control, 1 << 20, FDS)
                except OSError:
                    message, fds = b"", []
                request = json.loads(message) if message else {}
                serves = "serve" in request
                if len(fds) != (1 if serves else FDS):
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
                control.send(PID.pack(pid))


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
                os.write(fd, STATUS.pack(os.waitstatus_to_exitcode(status)))
            os.close(fd)


def _child(request: dict[str, object], fds: list[int]) -> None:
    """In the forked child: become the step's process, run its script, exit as the interpreter would."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        stdout, stderr, _status = fds
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        code = _run_request(request)
    except BaseException:  # noqa: BLE001 - whatever happened, the child must not return into the server
        with contextlib.suppress(BaseException):
            sys.excepthook(*sys.exc_info())  # type: ignore[arg-type]
    finally:
        os._exit(code)


def _import_all(modules: Sequence[str]) -> None:
    for name in modules:
        with contextlib.suppress(Exception):  # the step imports it again and reports the failure
            importlib.import_module(name)


def _run_request(request: dict[str, object]) -> int:
    """Become the step ``request`` describes (its stdout and stderr in place) and run it: stdin empty,
    nothing else open (as subprocess's close_fds leaves a fresh process: not a server's sockets, nor the
    pipes of the steps beside it), its folder and environment. The exit code (see _run)."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    if hasattr(os, "sysconf"):  # Windows: descriptors are not inherited, nothing to close
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    os.chdir(str(request["cwd"]))
    os.environ.clear()
    os.environ.update(request["env"])  # type: ignore[arg-type]
    tempfile.tempdir = None  # read TMPDIR again, as a fresh interpreter would
    return _run(list(request["argv"]))  # type: ignore[arg-type]


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


def _warm(modules: Sequence[str]) -> None:
    """A waiting interpreter (WarmInterpreter): import ``modules``, read the step from stdin, run it."""
    _import_all(modules)
    line = sys.stdin.readline()
    if not line:
        os._exit(0)  # no step came
    os._exit(_run_request(json.loads(line)))


if __name__ == "__main__" and sys.argv[1] == WARM:
    _warm(sys.argv[2:])
elif __name__ == "__main__":
    _serve(socket.socket(fileno=int(sys.argv[1])), sys.argv[2:])
    # Nothing to clean up, and the interpreter's own finalization of what it imported takes 0.2 s that
    # the runner would wait for.
    os._exit(0)
