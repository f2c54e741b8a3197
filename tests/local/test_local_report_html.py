"""The report page: spec strings and data are text, never markup, and the page renders in headless
Chromium (skipped when no Chromium is installed: apt-get install chromium, or set CHROMIUM=/path)."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagespec.local import report, report_html

HOSTILE = '<script>document.title = "owned"</script> <img src=x onerror=alert(1)> & {{ 7*7 }} </svg>'


def sample_report(text: str) -> report.RunReport:
    """A finished run whose every free-text field (description, class names, facet values, messages,
    parameters) is ``text``."""
    steps = [
        report.StepRow("PreprocessData", "processing", "done", 1.5, None, "", "k" * 64, "c" * 64),
        report.StepRow("CheckDataBias", "bias-check", "cached", 0.2, "20260101-000000", "", "k" * 64, None),
        report.StepRow("TrainModel", "training", "done", 3.0, None, "", "k" * 64, "c" * 64),
        report.StepRow("EvaluateModel", "processing", "done", 1.0, None, "", "k" * 64, "c" * 64),
        report.StepRow("CheckEvaluation", "condition", "done", 0.0, None, "", None, None),
        report.StepRow("RegisterModel", "register", "skipped", 0.0, None, "condition not met", None, None),
        report.StepRow("FailPipeline", "fail", "failed", 0.0, None, text, None, None),
    ]
    return report.RunReport(
        run_id="20260102-030405",
        started="2026-01-02T03:04:05",
        project="reviews",
        description=text,
        model_type="blazingtext",
        status="failed",
        error=f"FailPipeline: {text}",
        steps=steps,
        branches={"CheckEvaluation": {"if_true": "RegisterModel", "if_false": "FailPipeline"}},
        lineage=report.Lineage(text, "d" * 64, "s" * 64, 1, "0.1.0"),
        parameters={"hyperparameter.epochs": "8", f"option.{text}": text},
        bias=[
            report.BiasRow("Class Name", text, "CI", 0.4, 0.3, True),
            report.BiasRow("Class Name", "Dresses", "CI", -0.1, 0.3, False),
            report.BiasRow("Class Name", "Dresses", "KL", float("inf"), 5.0, True),
            report.BiasRow("Class Name", "Tops", "KL", None, 5.0, False),
        ],
        metrics=[
            report.MetricRow("accuracy", 0.5, 0.9, False),
            report.MetricRow("macro_f1", 0.4, None, None),
        ],
        confusion={"labels": [text, "0", "1"], "matrix": [[5, 1, 0], [2, 7, 1], [0, 0, 9]]},
        curves={"validation:accuracy": [0.4, 0.5, 0.55], "loss": [1.0]},
    )


class Page(HTMLParser):
    """The page's tags in order (with their attribute names) and its text."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, tuple[str, ...]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(name for name, _ in attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_a_hostile_spec_string_is_text():
    html = report_html.render(sample_report(HOSTILE))
    assert (
        "<script" not in html and "<img" not in html and "onerror=" not in html.replace("onerror=alert", "")
    )
    assert "&lt;script&gt;document.title" in html
    page = Page(html)
    assert HOSTILE in page.text  # the description, whole, as text
    assert not [tag for tag, _ in page.tags if tag in ("script", "img", "iframe", "object")]


@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40))
def test_the_page_structure_does_not_depend_on_the_data(text):
    """Whatever a spec string holds, the page has the same tags and attributes as with a plain word,
    and the string comes back as text."""
    plain = Page(report_html.render(sample_report("plain")))
    page = Page(report_html.render(sample_report(text)))
    assert page.tags == plain.tags
    assert text in page.text


def test_the_report_draws_every_section():
    html = report_html.render(sample_report("plain"))
    assert html.count('class="node ') == 7 and 'data-step="FailPipeline"' in html
    assert html.count("<polyline") == 1  # one value ("loss") is no curve
    assert html.count('class="threshold"') == 2 * 2 + 1  # ± per bias metric, one for the condition
    assert "cache hit" in html and "Not registered: FailPipeline: plain" in html
    assert "Content-Security-Policy" in html


def _chromium() -> str | None:
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


def _headless(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-proxy-server",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # the page must need no network
        f"--user-data-dir={profile}",
    ]
    return subprocess.run([binary, *flags, *args], capture_output=True, text=True, timeout=90, check=True)


@pytest.fixture
def chromium() -> str:
    binary = _chromium()
    if binary is None:
        pytest.skip("Chromium is not installed (apt-get install chromium, or set CHROMIUM=/path/to/it)")
    return binary


@pytest.mark.parametrize("source", ["hostile", "run"])
def test_the_report_renders_in_headless_chromium(chromium, source, blazingtext_run, tmp_path):
    if source == "run":
        page = blazingtext_run.run_dir / "report.html"
    else:
        page = report_html.write(sample_report(HOSTILE), tmp_path)
    dom = _headless(chromium, tmp_path / "profile", "--dump-dom", page.as_uri()).stdout
    steps = 10 if source == "run" else 7  # the example's pipeline (monitored); the sample report's seven
    assert dom.count('class="node ') == steps  # the DAG's SVG, as Chromium parsed it
    assert 'id="confusion"' in dom and "<script" not in dom
    title = dom.split("<title>", 1)[1].split("</title>", 1)[0]
    assert "owned" not in title and "run " in title  # the hostile <script> never ran
    artifacts = Path(os.environ.get("SAGESPEC_TEST_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / f"report-{source}.png"
    _headless(
        chromium, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri()
    )
    print(f"screenshot of the report: {shot}")
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 20_000
