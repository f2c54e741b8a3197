"""What makes `sagespec local run` quicker, each held to doing the same work as before.

evaluate.py counts its metrics without scikit-learn (the same numbers), the BlazingText stand-in's
process loads neither the runner nor pydantic's spec models, model.tar.gz is deflated with the
run-length strategy, and the bias check's libraries are imported (by the fork server) while the steps
before it run.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import tarfile
import time
import types
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagespec.local.artifacts import make_model_tar
from sagespec.local.runner import BIAS_LIBRARIES, Runner
from sagespec.plan import Step
from sagespec.project_modules import import_file

from ..conftest import import_beside

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "template" / "pipelines" / "__pkg__"

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _evaluate() -> types.ModuleType:
    return import_beside(PACKAGE / "evaluate.py", "_template_evaluate_speed")


LABELS = ["-1", "0", "1", "a b", "x"]


@settings(max_examples=300, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.sampled_from(LABELS[:4]), st.sampled_from([*LABELS, ""])), min_size=1),
)
def test_the_metrics_are_scikit_learns(pairs):
    truth, predicted = [t for t, _ in pairs], [p for _, p in pairs]
    classes = LABELS[:4]
    report = _evaluate().build_report(truth, predicted, classes)
    precision, recall, f1, support = sklearn_metrics.precision_recall_fscore_support(
        truth, predicted, labels=classes, zero_division=0
    )
    f1_score = sklearn_metrics.f1_score
    expected = {
        "accuracy": sklearn_metrics.accuracy_score(truth, predicted),
        "macro_f1": f1_score(truth, predicted, labels=classes, average="macro", zero_division=0),
        "weighted_f1": f1_score(truth, predicted, labels=classes, average="weighted", zero_division=0),
    }
    for name, value in expected.items():
        assert report["metrics"][name]["value"] == pytest.approx(value, abs=1e-12), name
    for i, label in enumerate(classes):
        scores = report["per_class"][label]
        assert scores["precision"] == pytest.approx(precision[i], abs=1e-12)
        assert scores["recall"] == pytest.approx(recall[i], abs=1e-12)
        assert scores["f1"] == pytest.approx(f1[i], abs=1e-12)
        assert scores["support"] == support[i]
    matrix = sklearn_metrics.confusion_matrix(truth, predicted, labels=classes).tolist()
    assert report["confusion_matrix"] == {"labels": classes, "matrix": matrix}


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=PACKAGE,
    ).stdout
    return set(out.split())


def test_evaluate_py_does_not_import_scikit_learn():
    loaded = _loaded_after("import evaluate, predict_blazingtext, predict_autopilot")
    assert {"evaluate", "predict_blazingtext"} <= loaded
    assert not any(name.split(".")[0] == "sklearn" for name in loaded)


def test_the_blazingtext_stand_in_loads_neither_the_runner_nor_the_spec_models():
    loaded = _loaded_after("import sagespec.local.blazingtext")
    assert "sagespec.local.runner" not in loaded and "sagespec.spec.models" not in loaded
    assert "pydantic" not in loaded  # the catalog's limits too (0.16 s of the training step's start)
    # ... while the packages' names still reach them.
    loaded = _loaded_after("from sagespec.local import run_pipeline\nfrom sagespec.spec import load_spec")
    assert {"sagespec.local.runner", "sagespec.spec.loader"} <= loaded


def test_model_tar_gz_is_deflated_with_the_run_length_strategy(tmp_path):
    (tmp_path / "model").mkdir()
    weights = np.random.default_rng(0).uniform(-0.02, 0.02, 50_000).astype(np.float32).tobytes()
    (tmp_path / "model" / "model.bin").write_bytes(weights)
    artifact = make_model_tar(tmp_path / "model", tmp_path / "model.tar.gz")
    tar_bytes = gzip.decompress(artifact.read_bytes())  # a plain gzip stream...
    with tarfile.open(artifact) as tar:
        assert tar.getnames() == ["model.bin"] and tar.extractfile("model.bin").read() == weights
    # ... compressed as zlib's run-length strategy does it, and smaller than the tar.
    deflate = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS, 8, zlib.Z_RLE)
    assert artifact.read_bytes() == deflate.compress(tar_bytes) + deflate.flush()
    assert artifact.stat().st_size < len(tar_bytes)


def _runner(steps: tuple[Step, ...], reused: tuple[str, ...] = (), left_out: frozenset[str] = frozenset()):
    runner = Runner.__new__(Runner)  # only the plan and the selection matter here
    runner.plan = types.SimpleNamespace(steps=steps)
    runner.selection = types.SimpleNamespace(runs=lambda step: step.name not in left_out, reused=reused)
    return runner


def test_the_bias_checks_libraries_are_preloaded_only_when_it_runs():
    bias = Step(name="CheckDataBias", kind="bias-check")
    train = Step(name="TrainModel", kind="training")
    assert _runner((bias, train))._bias_check_runs()
    assert not _runner((train,))._bias_check_runs()  # bias.enabled: false
    assert not _runner((bias, train), reused=("CheckDataBias",))._bias_check_runs()
    assert not _runner((bias, train), left_out=frozenset({"CheckDataBias"}))._bias_check_runs()


def test_background_work_is_joined_and_its_failure_reported_not_raised():
    from sagespec.local.background import Background

    said: list[str] = []
    done: list[int] = []
    background = Background(said.append)
    background.start("slow", lambda: (time.sleep(0.2), done.append(1)))
    background.start("broken", lambda: 1 / 0)
    background.join()
    assert done == [1]
    assert said == ["      warning: broken failed: ZeroDivisionError: division by zero"]


def test_the_bias_chart_can_be_drawn_after_the_numbers(tmp_path):
    from sagespec.local.bias import CHART_FILE, BiasCheck, chart_drawer, compute_bias
    from sagespec.spec.models import Bias

    rows = "".join(
        f"{label},{group}\n" for label, group in [("1", "a"), ("0", "a"), ("1", "b"), ("1", "b")] * 5
    )
    (tmp_path / "bias").mkdir()
    (tmp_path / "bias" / "bias-0.csv").write_text(rows)
    bias = BiasCheck.of(
        Bias.model_validate(
            {"facets": [{"column": "group"}], "positive_labels": [1], "metrics": {"DPL": {"threshold": 0.5}}}
        )
    )
    found = compute_bias(tmp_path / "bias", bias, tmp_path / "out", columns=["label", "group"], chart=False)
    assert found.values and not (tmp_path / "out" / CHART_FILE).exists()  # the numbers, no chart yet
    assert found.chart == tmp_path / "out" / CHART_FILE
    chart_drawer(found, tmp_path / "out")()
    assert (tmp_path / "out" / CHART_FILE).read_bytes().startswith(b"\x89PNG")


def test_prepare_parses_only_the_columns_it_uses_and_still_names_every_column(tmp_path):
    prepare = import_file(PACKAGE / "prepare.py", "_template_prepare_speed")
    path = tmp_path / "reviews.csv"
    path.write_text(",Title,Review Text,Rating,Age\n0,t,great,5,30\n1,u,poor,1,\n")
    frames = list(prepare.read_chunks(path, ["Review Text", "Rating"], 10))
    assert [list(frame.columns) for frame in frames] == [["Review Text", "Rating"]]
    assert frames[0]["Rating"].tolist() == ["5", "1"]  # read as text
    with pytest.raises(prepare.InputError) as missing:
        prepare.check_columns(frames[0], path, {"Review Txt": "--text-column"})
    # Every column of the file, as before (the index column pandas wrote out left out).
    assert str(missing.value).endswith("its columns are: Title, Review Text, Rating, Age")


def test_the_bias_chart_imports_matplotlib_on_its_drawing_thread_only(tmp_path, monkeypatch):
    from sagespec.local import bias as bias_module

    code = (
        "import sys\nfrom pathlib import Path\nfrom sagespec.local.bias import BiasResult, chart_drawer\n"
        f"draw = chart_drawer(BiasResult((), 0, {{}}, None, None), Path({str(tmp_path)!r}))\n"
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]
    assert "matplotlib" not in BIAS_LIBRARIES  # nor prefetched before the check
    # A missing matplotlib still fails the step, as drawing the chart inside it would.
    monkeypatch.setattr(bias_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError) as missing:
        bias_module.chart_drawer(bias_module.BiasResult((), 0, {}, None, None), tmp_path)
    assert missing.value.name == "matplotlib"
