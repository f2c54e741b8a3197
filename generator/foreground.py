"""What the local HTTP servers share: serving in the foreground until SIGTERM or SIGINT, and closing
connections without losing an answer.

`sagespec local serve` and `sagespec local label` serve until they are told to stop. SIGTERM (what
``kill``, systemd, Docker and CI runners send) and SIGINT (Ctrl-C) both end the serving loop the same
way, so each command's clean-up (remove its record, print its summary) always runs and it exits 0.

A process that a non-interactive shell starts in the background inherits SIGINT *ignored*; Python
then does not turn SIGINT into KeyboardInterrupt, and neither do we: an ignored SIGINT stays ignored
(the convention ``nohup`` and ``&`` rely on). SIGTERM always stops the server.
"""

from __future__ import annotations

import re
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Protocol

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# A Content-Length value: ASCII digits only (int() would also take "٣", "+3" and "3_0").
_CONTENT_LENGTH = re.compile(r"[0-9]{1,10}")


def content_length(value: str) -> int | None:
    """The length a Content-Length header value declares, or None when it is not a well-formed one."""
    value = value.strip()
    return int(value) if _CONTENT_LENGTH.fullmatch(value) else None


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGTERM or SIGINT while the block runs; the previous handlers come back after.

    Must run on the main thread (only it may install signal handlers). A signal that is ignored when
    the block starts stays ignored.
    """

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {}
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, on_signal)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Serving(Protocol):
    """A server run by one thread and stopped from another: socketserver's servers, the endpoint's
    uvicorn listener."""

    def serve_forever(self, poll_interval: float = ...) -> None: ...

    def shutdown(self) -> None: ...


def serve_until_stopped(server: Serving, poll_interval: float = 0.2) -> None:
    """Serve on a worker thread until SIGTERM or SIGINT (or the serving loop dies), then shut down.

    The main thread only waits on an event, so a signal never lands in the middle of a request: the
    request in flight finishes and the server's socket is closed by the caller (``server_close``).
    """
    stop = threading.Event()
    with stop_on_signals(stop):
        worker = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": poll_interval}, name="sagespec-serve"
        )
        worker.start()
        try:
            while worker.is_alive() and not stop.wait(poll_interval):
                pass
        finally:
            server.shutdown()  # returns once serve_forever has returned (at once if it already has)
            worker.join()


class LingeringClose(BaseHTTPRequestHandler):
    """A request handler that closes each connection gently, whatever ended it (a refused body, a
    garbled request line, a timeout).

    Closing a socket that still holds unread data resets the connection, and the client may lose the
    answer already sent; so stop sending, then read and drop what the client still sends (at most
    ``linger_bytes``, for at most ``linger_seconds``) before the socket is closed.
    """

    linger_seconds = 2.0
    linger_bytes = 6 * 1024 * 1024

    def finish(self) -> None:
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(self.linger_seconds)
            dropped = 0
            while dropped <= self.linger_bytes and (chunk := self.rfile.read1(1 << 16)):
                dropped += len(chunk)
        except (OSError, ValueError):  # reset, closed, or too slow: it has had its answer either way
            pass
        super().finish()
