"""The HTTP side of the local endpoint: SageMaker's model-server contract, plus a loopback admin API.

    GET  /ping                 200 once every variant's model is loaded
    POST /invocations          the body goes through the handler of the variant the weights pick, or of
                               the one named by X-Amzn-SageMaker-Target-Variant; the answer carries
                               X-Amzn-Invoked-Production-Variant
    GET  /admin/variants       weights, versions, invocation counts and latency per variant
    POST /admin/weights        {"<variant>": weight, ...}: change weights live (loopback clients only)

Standard-library ``ThreadingHTTPServer`` with HTTP/1.1 keep-alive: one thread per connection.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .endpoint import Endpoint, Response

TARGET_VARIANT_HEADER = "X-Amzn-SageMaker-Target-Variant"
INVOKED_VARIANT_HEADER = "X-Amzn-Invoked-Production-Variant"
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # SageMaker real-time endpoints take at most 6 MB per request


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


class RequestHandler(BaseHTTPRequestHandler):
    server: EndpointServer
    protocol_version = "HTTP/1.1"  # keep-alive: a client reuses its connection
    disable_nagle_algorithm = True  # answers are small: send them now, not after the client's ACK
    wbufsize = 1 << 16  # headers and body leave in one write (flushed after each request)
    server_version = "sagespec-local-endpoint"

    # ------------------------------------------------------------------------------------------ routes

    def do_GET(self) -> None:
        if self.path == "/ping":
            self._send(Response(200, b"", "text/plain"))
        elif self.path == "/admin/variants":
            self._send_json(200, self.server.endpoint.describe())
        else:
            self._send_json(404, {"error": f"no route GET {self.path}"})

    def do_POST(self) -> None:
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

    def _set_weights(self, body: bytes) -> None:
        if not _is_loopback(self.client_address[0]):
            self._send_json(403, {"error": "weights can only be changed from this machine"})
            return
        try:
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
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._send_json(411, {"error": "Content-Length is required"}, close=True)
            return None
        if int(length) > MAX_PAYLOAD_BYTES:
            self._send_json(413, {"error": f"the payload exceeds {MAX_PAYLOAD_BYTES} bytes"}, close=True)
            return None
        return self.rfile.read(int(length))

    def _send_json(self, status: int, payload: Any, close: bool = False) -> None:
        self._send(Response(status, json.dumps(payload).encode("utf-8"), "application/json"), close)

    def _send(self, response: Response, close: bool = False) -> None:
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
