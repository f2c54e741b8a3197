"""The labeling page in a real browser: headless Chromium opens a task, picks a label, submits.

Chromium is driven over the Chrome DevTools Protocol on a pipe (--remote-debugging-pipe: JSON messages
on file descriptors 3 and 4), with the standard library only: no WebDriver, no debugging port. The
browser may resolve nothing but the loopback address. A screenshot of the task is kept as an artifact
in $SAGESPEC_TEST_ARTIFACTS (else the test's tmp folder); its path is printed.

Skipped when no Chromium is installed (Debian: apt-get install chromium; or set CHROMIUM=/path).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

HOSTILE = '<script>document.title = "owned"</script> Lovely, but <b>runs small</b> & {{ 7*7 }}'
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # loopback only
    "--window-size=1280,900",
    "--remote-debugging-pipe",
]


def _chromium() -> str | None:
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


class Chromium:
    """A headless Chromium and one page of it, spoken to over the DevTools pipe."""

    def __init__(self, binary: str, profile: Path):
        to_browser, self._commands = os.pipe()  # Chromium reads commands on fd 3
        self._events_fd, from_browser = os.pipe()  # and writes answers and events on fd 4

        def wire_pipes() -> None:  # in the child, before exec: put the pipe ends at 3 and 4
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser, from_browser)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(3, 4),
            preexec_fn=wire_pipes,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._next_id = 0
        self._answers: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._arrived = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable", session=True)

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._events_fd, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self._arrived:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._answers[message["id"]] = message
                    else:
                        self.events.append(message)
                self._arrived.notify_all()

    def call(self, method: str, session: bool = False, timeout: float = 15, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        with self._arrived:
            if not self._arrived.wait_for(lambda: self._next_id in self._answers, timeout):
                raise TimeoutError(f"no answer to {method} in {timeout} s")
            answer = self._answers.pop(self._next_id)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(f"still false after {timeout} s: {expression}")

    def open(self, url: str) -> None:
        self.call("Page.navigate", session=True, url=url)
        self.wait_for("document.readyState === 'complete'")

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element, as a person would."""
        box = self.wait_for(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.call(
                "Input.dispatchMouseEvent",
                session=True,
                type=kind,
                x=box["x"],
                y=box["y"],
                button="left",
                clickCount=1,
            )

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        with contextlib.suppress(OSError, TimeoutError, RuntimeError):
            self.call("Browser.close", timeout=5)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._events_fd)


@pytest.fixture
def browser(tmp_path):
    binary = _chromium()
    if binary is None:
        pytest.skip("Chromium is not installed (apt-get install chromium, or set CHROMIUM=/path/to/it)")
    chromium = Chromium(binary, tmp_path / "chromium-profile")
    yield chromium
    chromium.close()


def test_a_reviewer_picks_a_label_and_submits_in_chromium(
    labeling_project, queue_for, serve, browser, tmp_path
):
    queue = queue_for(labeling_project, [HOSTILE, "Second review, for the next page."])
    server = serve(queue)
    first, second = queue.tasks
    browser.open(server.url)  # "/" leads to the first open task

    # The local stand-ins turned the template's crowd-classifier into one radio button per label.
    labels = browser.wait_for("[...document.querySelectorAll('input.crowd-category')].map(e => e.value)")
    assert labels == ["Negative", "Neutral", "Positive"]
    assert browser.evaluate("document.querySelector('classification-target').textContent") == HOSTILE
    assert browser.evaluate("document.title") != "owned"  # the review's <script> is text, never run
    assert browser.evaluate("document.querySelectorAll('classification-target b').length") == 0

    browser.click("button.crowd-submit")  # nothing chosen yet: the page asks for a label
    browser.wait_for("document.querySelector('.crowd-status').textContent.includes('Choose a label')")
    assert not queue.answered(first.name)

    browser.click("label[for='crowd-classifier-2']")  # "Positive"
    assert browser.evaluate("document.querySelector('input.crowd-category:checked').value") == "Positive"
    artifacts = Path(os.environ.get("SAGESPEC_TEST_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = browser.screenshot(artifacts / "label-page.png")
    print(f"screenshot of the labeling page: {shot}")
    assert shot.stat().st_size > 10_000

    browser.click("button.crowd-submit")
    browser.wait_for(f"location.pathname === '/task/{second.name}'")  # on to the next task
    output = json.loads((queue.folder / first.name / "output.json").read_text())
    assert output["humanAnswers"][0]["answerContent"] == {"crowd-classifier": {"label": "Positive"}}
    assert output["inputContent"]["taskObject"] == HOSTILE
    assert output["humanLoopName"] == first.name
