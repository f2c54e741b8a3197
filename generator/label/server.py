"""The local labeling page: the project's worker task template, one task after another, on loopback.

    GET  /                          the next open task (or "all done")
    GET  /task/<human loop name>    the task: the template rendered with Liquid for its input
    POST /task/<name>/submit        {"answerContent": {...}} -> output.json; answers {"next": url}
    GET  /crowd-html-elements.js    local stand-ins for AWS's Crowd HTML Elements

AWS's crowd-* elements are web components served from assets.crowd.aws; the page loads the local
stand-ins in their place (the template's script tag is pointed at them) and a Content-Security-Policy
keeps it from reaching anything but this server. The server binds 127.0.0.1 only and answers only
requests addressed to it (Host header), with JSON bodies, so other web pages cannot post answers.
"""

from __future__ import annotations

import html
import json
import re
import threading
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ..errors import LabelingError
from ..foreground import LingeringClose, content_length
from ..local.deps import missing_dependency
from .tasks import ReviewQueue, Task

HOST = "127.0.0.1"
CROWD_SCRIPT = "https://assets.crowd.aws/crowd-html-elements.js"
STATIC = Path(__file__).with_name("static")
ASSETS = {
    "/crowd-html-elements.js": ("crowd-html-elements.js", "text/javascript; charset=utf-8"),
    "/labeling.css": ("labeling.css", "text/css; charset=utf-8"),
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
MAX_BODY = 1 << 20
_TASK = re.compile(r"^/task/([a-z0-9-]{1,63})(/submit)?$")


def use_local_elements(page: str) -> str:
    """Point the template's Crowd HTML Elements script at the local stand-ins (add it when absent)."""
    local = 'src="/crowd-html-elements.js"'
    if f'src="{CROWD_SCRIPT}"' in page:
        return page.replace(f'src="{CROWD_SCRIPT}"', local)
    return f"<script {local}></script>\n{page}"


class LabelingApp:
    """What the pages show; the HTTP handler only routes to it."""

    def __init__(self, queue: ReviewQueue):
        self.queue = queue
        self.accepted: dict[str, datetime] = {}  # when each task's page was last opened
        self._lock = threading.Lock()

    def _frame(self, title: str, body: str, status_line: str) -> str:
        project = self.queue.project
        return (
            '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n"
            '<link rel="stylesheet" href="/labeling.css">\n</head>\n<body>\n'
            f'<header class="sagespec-bar"><strong>sagespec local label</strong> · '
            f"{html.escape(project.spec.project.name)} · {html.escape(status_line)}</header>\n"
            f"<main>\n{body}\n</main>\n</body>\n</html>\n"
        )

    def task_page(self, task: Task) -> str:
        queue = self.queue
        with self._lock:
            self.accepted[task.name] = datetime.now(UTC)
        rendered = use_local_elements(queue.project.task_template.render_task(task.input_content))
        state = "answered (submit again to change it)" if queue.answered(task.name) else "open"
        status = (
            f"task {queue.position(task.name)} of {len(queue.tasks)}, {state} · "
            f"{queue.open_count} open · {queue.about['source']}"
        )
        return self._frame(f"{queue.project.settings.TASK_TITLE} · {task.name}", rendered, status)

    def done_page(self) -> str:
        queue = self.queue
        body = (
            f'<section class="sagespec-done"><h1>All {len(queue.tasks)} tasks are answered</h1>\n'
            f"<p>The answers are in <code>{html.escape(str(queue.folder))}</code>, in Amazon A2I's output "
            "format.</p>\n<p>Turn them into training rows with <code>sagespec local retrain-data</code> "
            "(<code>make retrain-data</code>).</p></section>"
        )
        return self._frame("All tasks answered", body, f"{len(queue.tasks)} answered")

    def submit(self, name: str, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict) or "answerContent" not in payload:
            raise LabelingError('expected a JSON object {"answerContent": {...}}')
        with self._lock:
            accepted = self.accepted.get(name, datetime.now(UTC))
        path = self.queue.submit(name, payload["answerContent"], accepted)
        following = self.queue.next_open(after=name)
        return {"saved": str(path), "next": f"/task/{following.name}" if following else "/"}


class _Handler(LingeringClose):
    server: LabelingServer
    server_version = "sagespec-label"
    timeout = 60  # a client that stops sending mid-request does not hold a thread forever
    linger_bytes = MAX_BODY

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: str | bytes, content_type: str, **headers: str) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, document: Any) -> None:
        self._send(status, json.dumps(document), "application/json")

    def _addressed_to_us(self) -> bool:
        host = self.headers.get("Host", "")
        port = self.server.server_address[1]
        if host in (f"{HOST}:{port}", f"localhost:{port}"):
            return True
        self._send(HTTPStatus.MISDIRECTED_REQUEST, "wrong Host", "text/plain; charset=utf-8")
        return False

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if not self._addressed_to_us():
            return
        app = self.server.app
        path = self.path.split("?", 1)[0]
        if path in ASSETS:
            name, content_type = ASSETS[path]
            self._send(HTTPStatus.OK, (STATIC / name).read_bytes(), content_type)
            return
        if path == "/":
            task = app.queue.next_open()
            if task is None:
                self._send(HTTPStatus.OK, app.done_page(), "text/html; charset=utf-8")
            else:
                self._send(HTTPStatus.SEE_OTHER, "", "text/plain", Location=f"/task/{task.name}")
            return
        match = _TASK.match(path)
        task = app.queue.get(match.group(1)) if match and not match.group(2) else None
        if task is None:
            self._send(HTTPStatus.NOT_FOUND, "no such page", "text/plain; charset=utf-8")
            return
        try:
            page = app.task_page(task)
        except Exception as err:  # a template Liquid refuses: say so on the page, keep serving
            missing = missing_dependency(err, needed_by="the task page")
            message = str(missing or f"the worker task template does not render: {err}")
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, message, "text/plain; charset=utf-8")
            return
        self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")

    def do_POST(self) -> None:  # noqa: N802
        if not self._addressed_to_us():
            return
        match = _TASK.match(self.path)
        if not match or not match.group(2):
            self._json(HTTPStatus.NOT_FOUND, {"error": "POST /task/<name>/submit"})
            return
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "send application/json"})
            return
        length = content_length(self.headers.get("Content-Length") or "") or 0
        if not 0 < length <= MAX_BODY:
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"a JSON body of 1 to {MAX_BODY} bytes"})
            return
        try:
            payload = json.loads(self.rfile.read(length))
            result = self.server.app.submit(match.group(1), payload)
        except json.JSONDecodeError as err:
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"not JSON: {err}"})
            return
        except RecursionError:
            self._json(HTTPStatus.BAD_REQUEST, {"error": "the JSON is nested too deeply"})
            return
        except LabelingError as err:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
            return
        self._json(HTTPStatus.OK, result)


class LabelingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, app: LabelingApp, port: int = 0, verbose: bool = False):
        super().__init__((HOST, port), _Handler)
        self.app = app
        self.verbose = verbose

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"
