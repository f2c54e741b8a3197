"""The HTTP side of the local endpoint: SageMaker's model-server contract, plus a loopback admin API.

    GET  /ping                 200 once every variant's model is loaded
    POST /invocations          the body goes through the handler of the variant the weights pick, or of
                               the one named by X-Amzn-SageMaker-Target-Variant (never a shadow: 400);
                               the answer carries X-Amzn-Invoked-Production-Variant. With data capture
                               on, X-Amzn-SageMaker-Inference-Id is kept as the record's inferenceId
    GET  /admin/variants       weights, versions, invocation counts and latency per variant; per shadow
                               variant the requests mirrored, agreement, latency, errors; what was captured
    POST /admin/weights        {"<variant>": weight, ...}: change weights live (loopback clients only)

A bad request gets a 4xx and a short reason: 400 (malformed Content-Length, not JSON, JSON nested too
deep or holding a lone surrogate, a bad weight, a body shorter than its Content-Length, a target variant
that is no production variant, an inference id InvokeEndpoint would refuse), 405 (another
method), 408 (a body that stops arriving), 411 (no Content-Length), 413 (over SageMaker's 6 MB payload
limit), 415 (a content type the handler does not speak). A 5xx is only ever a fault of the server or of
the model, and every request gets an answer.

:class:`EndpointApp` is a plain ASGI application (four routes need no framework), served by uvicorn
with the httptools parser (:mod:`.listener`). A quick model (fastText: well under a millisecond) is
called on the event loop, as a hand-written model server would: handing each call to a thread costs
more than the call itself. A model slower than :data:`~.endpoint.INLINE_LIMIT_S` per request runs on
the loop's thread pool instead, so /ping and the admin API keep answering while it computes.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import sys
from typing import Any

from ..foreground import content_length
from .endpoint import Endpoint
from .handler import Response, check_json_body

TARGET_VARIANT_HEADER = "X-Amzn-SageMaker-Target-Variant"
INVOKED_VARIANT_HEADER = "X-Amzn-Invoked-Production-Variant"
INFERENCE_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"  # InvokeEndpoint's InferenceId: kept in captured data
# SageMaker real-time endpoints take at most 6 MB per invocation (InvokeEndpoint's payload limit);
# a larger body is refused with 413 before it is read.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
REQUEST_TIMEOUT_S = 60  # a client that stops sending mid-body is answered 408

_TARGET = TARGET_VARIANT_HEADER.lower().encode("ascii")
_INVOKED = INVOKED_VARIANT_HEADER.lower().encode("ascii")
_INFERENCE_ID = INFERENCE_ID_HEADER.lower().encode("ascii")
_CLOSE = (b"connection", b"close")

Scope = dict[str, Any]
Receive = Any  # Callable[[], Awaitable[dict]]: the ASGI receive channel
Send = Any  # Callable[[dict], Awaitable[None]]: the ASGI send channel


class EndpointApp:
    """The endpoint as an ASGI application (HTTP only; uvicorn runs it with lifespan off)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"]
        try:
            if method == "POST":
                await self._post(scope, path, receive, send)
            elif method == "GET":
                await self._get(path, send)
            else:
                await _send_json(send, 405, {"error": f"method {method} is not allowed"})
        except Exception as exc:  # a fault in this server still gets an answer, never a dropped request
            print(f"{method} {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
            await _send_json(send, 500, {"error": f"internal error: {type(exc).__name__}"}, close=True)

    async def _get(self, path: str, send: Send) -> None:
        if path == "/ping":
            await _send(send, Response(200, b"", "text/plain"))
        elif path == "/admin/variants":
            await _send_json(send, 200, self.endpoint.describe())
        else:
            await _send_json(send, 404, {"error": f"no route GET {path}"})

    async def _post(self, scope: Scope, path: str, receive: Receive, send: Send) -> None:
        headers = _headers(scope["headers"])
        body = await _read_body(headers, receive, send)
        if body is None:
            return
        if path == "/invocations":
            await _send(send, await self._invoke(body, headers))
        elif path == "/admin/weights":
            client = scope.get("client")
            await self._set_weights(body, client[0] if client else "", send)
        else:
            await _send_json(send, 404, {"error": f"no route POST {path}"})

    async def _invoke(self, body: bytes, headers: dict[bytes, bytes]) -> Response:
        call = functools.partial(
            self.endpoint.invoke,
            body,
            content_type=headers.get(b"content-type", b"application/json").decode("latin-1"),
            accept=headers.get(b"accept", b"application/json").decode("latin-1"),
            target_variant=_text(headers.get(_TARGET)),
            inference_id=_text(headers.get(_INFERENCE_ID)),
        )
        if self.endpoint.quick():
            return call()
        return await asyncio.get_running_loop().run_in_executor(None, call)

    async def _set_weights(self, body: bytes, client: str, send: Send) -> None:
        if not _is_loopback(client):
            await _send_json(send, 403, {"error": "weights can only be changed from this machine"})
            return
        try:
            check_json_body(body)
            weights = json.loads(body)
            if not isinstance(weights, dict):
                raise ValueError('expected {"<variant>": weight, ...}')
            self.endpoint.router.set_weights(weights)
        except ValueError as exc:  # JSONDecodeError included
            await _send_json(send, 400, {"error": str(exc)})
            return
        await _send_json(send, 200, self.endpoint.describe())


# ---------------------------------------------------------------------------------------------- plumbing


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """The request's headers by lower-case name; a repeated Content-Length is kept only when every
    copy agrees (a disagreement becomes a value no length parses)."""
    headers: dict[bytes, bytes] = {}
    for name, value in raw:
        if name == b"content-length" and headers.get(name, value).strip() != value.strip():
            value = b"conflicting"
        headers[name] = value
    return headers


async def _read_body(headers: dict[bytes, bytes], receive: Receive, send: Send) -> bytes | None:
    """The request body, or None once the request was answered with why it has none.

    Only a body with one well-formed Content-Length is read (no chunked transfer encoding, as on
    SageMaker), of at most :data:`MAX_PAYLOAD_BYTES`. After a refusal the connection is closed.
    """
    declared = headers.get(b"content-length")
    if declared is None or b"chunked" in headers.get(b"transfer-encoding", b"").lower():
        await _refuse(send, 411, "Content-Length is required")
        return None
    length = content_length(declared.decode("latin-1"))
    if length is None:
        await _refuse(send, 400, f"malformed Content-Length: {declared[:40].decode('latin-1')!r}")
        return None
    if length > MAX_PAYLOAD_BYTES:
        await _refuse(send, 413, f"the payload exceeds {MAX_PAYLOAD_BYTES} bytes")
        return None
    chunks = []
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None  # the client is gone: there is no one to answer
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        await _refuse(send, 408, f"the body did not arrive in {REQUEST_TIMEOUT_S} s")
        return None
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if len(body) < length:  # the client stopped sending (it may still read the answer)
        await _refuse(send, 400, f"the body is shorter than its Content-Length, {length}")
        return None
    return body


async def _refuse(send: Send, status: int, reason: str) -> None:
    """Answer a request whose body is not read; the connection closes after the answer."""
    await _send_json(send, status, {"error": reason}, close=True)


async def _send_json(send: Send, status: int, payload: Any, close: bool = False) -> None:
    await _send(send, Response(status, json.dumps(payload).encode("utf-8"), "application/json"), close)


async def _send(send: Send, response: Response, close: bool = False) -> None:
    headers = [
        (b"content-type", response.content_type.encode("latin-1")),
        (b"content-length", str(len(response.body)).encode("ascii")),
    ]
    if response.variant:
        headers.append((_INVOKED, response.variant.encode("latin-1")))
    if close:
        headers.append(_CLOSE)
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False
