"""The HTTP side of the local endpoint: SageMaker's model-server contract, plus a loopback admin API.

    GET  /ping                 200 once every variant's model is loaded
    POST /invocations          the body goes through the handler of the variant the weights pick, or of
                               the one named by X-Amzn-SageMaker-Target-Variant; the answer carries
                               X-Amzn-Invoked-Production-Variant
    GET  /admin/variants       weights, versions, invocation counts and latency per variant
    POST /admin/weights        {"<variant>": weight, ...}: change weights live (loopback clients only)

A bad request gets a 4xx and a short reason: 400 (malformed Content-Length, not JSON, JSON nested too
deep or holding a lone surrogate, a bad weight), 411 (no Content-Length), 413 (over SageMaker's 6 MB
payload limit), 415 (a content type the handler does not speak). A 5xx is only ever a fault of the
server or of the model, and every request gets an answer.

Standard-library ``ThreadingHTTPServer`` with HTTP/1.1 keep-alive: one thread per connection.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import sys
import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any

from ..foreground import LingeringClose, content_length
from .endpoint import Endpoint, Response, check_json_body

TARGET_VARIANT_HEADER = "X-Amzn-SageMaker-Target-Variant"
INVOKED_VARIANT_HEADER = "X-Amzn-Invoked-Production-Variant"
# SageMaker real-time endpoints take at most 6 MB per invocation (InvokeEndpoint's payload limit);
# a larger body is refused with 413 before it is read.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
REQUEST_TIMEOUT_S = 60


class EndpointServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the listen backlog; the default 5 drops connections under load

    def __init__(self, address: tuple[str, int], endpoint: Endpoint, verbose: bool = False) -> None:
        self.endpoint = endpoint
        self.verbose = verbose
        super().__init__(address, RequestHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host if ':' not in str(host) else f'[{host}]'}:{port}"


class RequestHandler(LingeringClose):
    server: EndpointServer
    protocol_version = "HTTP/1.1"  # keep-alive: a client reuses its connection
    disable_nagle_algorithm = True  # answers are small: send them now, not after the client's ACK
    wbufsize = 1 << 16  # headers and body leave in one write (flushed after each request)
    server_version = "sagespec-local-endpoint"
    timeout = REQUEST_TIMEOUT_S  # a client that stops sending mid-request does not hold a thread forever
    linger_bytes = MAX_PAYLOAD_BYTES
    _answered = False

    # ------------------------------------------------------------------------------------------ routes

    def do_GET(self) -> None:
        self._answer_every_request(self._get)

    def do_POST(self) -> None:
        self._answer_every_request(self._post)

    def _get(self) -> None:
        if self.path == "/ping":
            self._send(Response(200, b"", "text/plain"))
        elif self.path == "/admin/variants":
            self._send_json(200, self.server.endpoint.describe())
        else:
            self._send_json(404, {"error": f"no route GET {self.path}"})

    def _post(self) -> None:
        body = self._read_body()
        if body is None:
            return
        if self.path == "/invocations":
            response = self.server.endpoint.invoke(
                body,
                content_type=self.headers.get("Content-Type", "application/json"),
                accept=self.headers.get("Accept", "application/json"),
                target_variant=self.headers.get(TARGET_VARIANT_HEADER),
            )
            self._send(response)
        elif self.path == "/admin/weights":
            self._set_weights(body)
        else:
            self._send_json(404, {"error": f"no route POST {self.path}"})

    def _answer_every_request(self, route: Callable[[], None]) -> None:
        """Run ``route``; a fault in this server still gets an answer (500), never a dropped connection."""
        self._answered = False
        try:
            route()
        except Exception as exc:
            if not isinstance(exc, ConnectionError):  # a client that hung up is not a fault to report
                print(f"{self.command} {self.path}: {type(exc).__name__}: {exc}", file=sys.stderr)
            if self._answered:  # the answer is half sent: all we can do is end the connection
                self.close_connection = True
            else:
                with contextlib.suppress(OSError):  # unless the client is gone already
                    self._send_json(500, {"error": f"internal error: {type(exc).__name__}"}, close=True)

    def _set_weights(self, body: bytes) -> None:
        if not _is_loopback(self.client_address[0]):
            self._send_json(403, {"error": "weights can only be changed from this machine"})
            return
        try:
            check_json_body(body)
            weights = json.loads(body)
            if not isinstance(weights, dict):
                raise ValueError('expected {"<variant>": weight, ...}')
            self.server.endpoint.router.set_weights(weights)
        except ValueError as exc:  # JSONDecodeError included
            self._send_json(400, {"error": str(exc)})
            return
        self._send_json(200, self.server.endpoint.describe())

    # ------------------------------------------------------------------------------------------ plumbing

    def _read_body(self) -> bytes | None:
        """The request body, or None once the request was answered with why it has none.

        Only a body with one well-formed Content-Length is read (no chunked transfer encoding, as on
        SageMaker), of at most :data:`MAX_PAYLOAD_BYTES`. After a refusal the connection is closed: the
        unread body would otherwise be taken for the next request.
        """
        lengths = [value.strip() for value in self.headers.get_all("Content-Length") or []]
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower() or not lengths:
            self._refuse(411, "Content-Length is required")
            return None
        length = content_length(lengths[0])
        if len(set(lengths)) > 1 or length is None:
            self._refuse(400, f"malformed Content-Length: {lengths[0][:40]!r}")
            return None
        if length > MAX_PAYLOAD_BYTES:
            self._refuse(413, f"the payload exceeds {MAX_PAYLOAD_BYTES} bytes")
            return None
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            self._refuse(408, f"the body did not arrive in {self.timeout} s")
            return None
        if len(body) < length:  # the client stopped sending (it may still read the answer)
            self._refuse(400, f"the body is shorter than its Content-Length, {length}")
            return None
        return body

    def _refuse(self, status: int, reason: str) -> None:
        """Answer a request whose body is not read; the connection closes, gently (LingeringClose)."""
        self._send_json(status, {"error": reason}, close=True)

    def _send_json(self, status: int, payload: Any, close: bool = False) -> None:
        self._send(Response(status, json.dumps(payload).encode("utf-8"), "application/json"), close)

    def _send(self, response: Response, close: bool = False) -> None:
        self._answered = True
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        if response.variant:
            self.send_header(INVOKED_VARIANT_HEADER, response.variant)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:  # one line per request; the handler's failures are printed anyway
            super().log_message(format, *args)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def start_in_thread(server: EndpointServer) -> threading.Thread:
    """Serve on a daemon thread (tests, benchmarks); stop with ``server.shutdown()``."""
    thread = threading.Thread(target=server.serve_forever, name="sagespec-endpoint", daemon=True)
    thread.start()
    return thread
