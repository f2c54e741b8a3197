"""The local endpoint's listener: uvicorn serving :class:`~.server.EndpointApp` on a socket bound up front.

``EndpointServer`` binds and listens when it is made (so a taken port fails at once and ``--port 0``
knows its port before serving), then :meth:`serve_forever` runs uvicorn on that socket until
:meth:`shutdown` is called from another thread: the interface of the standard library's servers,
which :func:`sagespec.foreground.serve_until_stopped` drives. uvicorn runs with the httptools parser,
no access log unless ``verbose``, no lifespan and no logging configuration of its own (the process's
logging is left alone).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any, cast

import uvicorn
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .endpoint import Endpoint
from .server import REQUEST_TIMEOUT_S, EndpointApp

LISTEN_BACKLOG = 1024  # connections the kernel queues before they are accepted
SERVER_NAME = b"sagespec-local-endpoint"
LINGER_SECONDS = 2.0  # how long a closing connection reads and drops what the client still sends
LINGER_BYTES = 6 * 1024 * 1024


class GentleProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, changed so that every request gets its answer to the client.

    - A client may send its request and then shut down its side (``shutdown(SHUT_WR)``, or a body that
      ends before its Content-Length). uvicorn closes the connection on that end of input and drops
      the answer; here the request in flight is answered first (a body cut short is the app's 400),
      and the connection closes after that answer.
    - Bytes that are no request after one still in flight (a body longer than its Content-Length, or
      one sent without it) end the connection after that request's answer, instead of answering it
      with the 400 meant for what followed.
    - Closing a socket that still holds unread data resets the connection, and the client may lose
      the answer already sent. So when the connection ends while the client may still be sending (a
      refused or unparsable request), this side stops sending, then reads and drops what still comes
      (at most :data:`LINGER_BYTES`, for at most :data:`LINGER_SECONDS`) before the socket closes.
    """

    gentle: _ClosesGently
    _unparsable = False
    lingering = False
    _dropped = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.gentle = _ClosesGently(cast(asyncio.Transport, transport), self)
        super().connection_made(cast(asyncio.Transport, self.gentle))

    def data_received(self, data: bytes) -> None:
        if self.lingering:  # only waiting for the client to stop sending
            self._dropped += len(data)
            if self._dropped > LINGER_BYTES:
                self.transport.abort()
            return
        super().data_received(data)

    def eof_received(self) -> bool | None:  # type: ignore[override]
        cycle = self.cycle
        if self.lingering or cycle is None or (cycle.response_complete and not self.pipeline):
            self.gentle.flush()  # an answer may still wait for the end of this turn of the loop
            return None  # nothing more to answer: close
        cycle.keep_alive = False  # the last request of this connection
        if not cycle.response_complete and cycle.more_body:
            cycle.more_body = False  # no more body will come: the app sees what arrived
            cycle.message_event.set()
        return True  # keep the socket open for writing; the answer closes it

    def send_400_response(self, msg: str) -> None:
        self._unparsable = True
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.keep_alive = False
            return
        super().send_400_response(msg)

    def may_still_send(self) -> bool:
        """Whether the client may still be sending the request the connection ends in."""
        cycle = self.cycle
        return self._unparsable or (cycle is not None and cycle.more_body)

    def linger(self) -> None:
        self.lingering = True
        self.gentle.write_eof()
        self.transport.resume_reading()
        self.loop.call_later(LINGER_SECONDS, self.gentle.close)


class _ClosesGently:
    """The transport uvicorn's protocol and its request cycles write to, with two changes.

    ``write`` gathers what is written in one turn of the event loop and sends it in one system call at
    the end of that turn: an answer's head and body, which uvicorn writes one after the other, leave
    together (half the sends of a small answer). ``close`` lingers as :class:`GentleProtocol` says.
    """

    def __init__(self, transport: asyncio.Transport, protocol: GentleProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._pending: list[bytes] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._protocol.loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        if self._pending and not self._transport.is_closing():
            data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._transport.write(data)
        self._pending.clear()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        transport = self._transport
        if transport.is_closing():
            return
        self.flush()
        protocol = self._protocol
        if protocol.may_still_send() and not protocol.lingering and transport.can_write_eof():
            protocol.linger()
            return
        transport.close()


class EndpointServer:
    """uvicorn on ``address``, serving ``endpoint``; ``serve_forever`` / ``shutdown`` from two threads."""

    def __init__(self, address: tuple[str, int], endpoint: Endpoint, verbose: bool = False) -> None:
        self.endpoint = endpoint
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio switches Nagle off (TCP_NODELAY) only on sockets that name it, and
        # with Nagle on, each answer's body waits for the client's delayed ACK of its headers (40 ms).
        self.socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(address)
            self.socket.listen(LISTEN_BACKLOG)  # clients queue from now on, before the loop runs
        except OSError:
            self.socket.close()
            raise
        self.server_address: tuple[Any, ...] = self.socket.getsockname()
        config = uvicorn.Config(
            EndpointApp(endpoint),
            http=GentleProtocol,
            loop="asyncio",
            ws="none",
            lifespan="off",
            access_log=verbose,
            log_config=LOGGING_CONFIG if verbose else None,
            log_level="info" if verbose else "error",
            server_header=False,
            proxy_headers=False,  # the client's address is the socket's: X-Forwarded-For cannot fake loopback
            headers=[("server", SERVER_NAME.decode())],
            backlog=LISTEN_BACKLOG,
            timeout_keep_alive=REQUEST_TIMEOUT_S,  # a model client keeps its connection between requests
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._stopped = threading.Event()
        self._stopped.set()  # not serving yet

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host if ':' not in str(host) else f'[{host}]'}:{port}"

    def serve_forever(self, poll_interval: float = 0.1) -> None:
        """Serve until :meth:`shutdown`; uvicorn checks for it every 0.1 s (``poll_interval`` is the
        standard library's argument, kept for :func:`~sagespec.foreground.serve_until_stopped`)."""
        self._stopped.clear()
        try:
            self._server.run(sockets=[self.socket])
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop serving: requests in flight are answered, then :meth:`serve_forever` returns."""
        self._server.should_exit = True
        self._stopped.wait()

    def server_close(self) -> None:
        self.socket.close()


def start_in_thread(server: EndpointServer) -> threading.Thread:
    """Serve on a daemon thread (tests, benchmarks); stop with ``server.shutdown()``."""
    thread = threading.Thread(target=server.serve_forever, name="sagespec-endpoint", daemon=True)
    thread.start()
    return thread
