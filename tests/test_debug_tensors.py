"""The generated project's Debugger losses (template/pipelines/__pkg__/debug_tensors.py): what train.py
writes for SageMaker Debugger's rule jobs, read back by smdebug 1.0.34 itself (issue 15).

The built-in rules' own code (LossNotDecreasing, Overfit, Overtraining) is not published: it runs only
inside the rule evaluator image, on smdebug's trial API. So these tests hold the files to smdebug: its
writer produces the same bytes, its trial reader gives each epoch's training and validation loss in
modes TRAIN and EVAL, its rule invoker walks every step and ends with the job; and the losses it reads
back fire the spec's rules (as `sagespec local run` evaluates them) exactly as the metric lines do.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from types import ModuleType

import pytest

from sagespec.local.profiling.rules import RuleSet
from sagespec.local.profiling.stream import StepPoint
from sagespec.project_modules import import_file

from .smdebug_env import DEBUG_TENSORS, read_trial, run_smdebug


@pytest.fixture(scope="module")
def debug_tensors() -> ModuleType:
    return import_file(DEBUG_TENSORS, "debug_tensors_under_test")


def _write(
    module: ModuleType, folder: Path, losses: list[tuple[float, float]], *, close: bool = True
) -> Path:
    writer = module.LossWriter(folder)
    for epoch, (train, validation) in enumerate(losses, start=1):
        writer.write_epoch(epoch, train, validation)
    if close:
        writer.close()
    return folder


def _float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


# smdebug's FileWriter, as its hook uses it for one tensor of one step, against debug_tensors' record.
SAME_BYTES = """
import json, sys, tempfile
from pathlib import Path
import numpy as np
import debug_tensors
from smdebug.core.modes import ModeKeys
from smdebug.core.writer import FileWriter

scratch = tempfile.TemporaryDirectory()
folder = Path(scratch.name)
results = []
for step, mode, mode_step, value, wall_time in json.loads(sys.argv[1]):
    with FileWriter(trial_dir=str(folder), worker="worker_0", step=step) as writer:
        writer.write_tensor(tdata=np.array([value], dtype=np.float32), tname="loss",
                            mode=ModeKeys(mode), mode_step=mode_step, timestamp=wall_time)
    name = f"{step:012d}_worker_0"
    theirs = (folder / "events" / f"{step:012d}" / f"{name}.tfevents").read_bytes()
    ours = debug_tensors.tfrecord(debug_tensors.loss_event(value, step, mode, mode_step, wall_time))
    index = json.loads((folder / "index" / f"{step // 1000:09d}" / f"{name}.json").read_text())
    results.append({"same": theirs == ours, "length": len(theirs), "index": index})
scratch.cleanup()
print(json.dumps(results))
"""


def test_a_record_is_byte_for_byte_what_smdebugs_own_writer_writes(debug_tensors, tmp_path):
    cases = [[0, 1, 1, 0.6931, 1_700_000_000.25], [1, 2, 1, 1.25, 1_700_000_001.5],
             [4097, 2, 2049, 1e-7, 1_700_000_999.0], [7, 1, 4, 123456.789, 5.0]]  # fmt: skip
    results = run_smdebug(SAME_BYTES, json.dumps(cases))
    for (step, mode, mode_step, value, _), result in zip(cases, results, strict=True):
        assert result["same"], (step, value)
        # ... and its index file is the one debug_tensors writes for the same step.
        ours = debug_tensors.LossWriter(tmp_path / str(step))
        ours._write(step, mode, mode_step, value)
        written = tmp_path / str(step) / "index" / f"{step // 1000:09d}" / f"{step:012d}_worker_0.json"
        assert json.loads(written.read_text()) == result["index"]


def test_smdebugs_trial_reads_each_epochs_losses_in_train_and_eval_mode(debug_tensors, tmp_path):
    losses = [(0.9, 1.0), (0.7, 0.85), (0.55, 0.9)]
    trial = read_trial(_write(debug_tensors, tmp_path, losses))
    assert trial["losses"] == ["loss"] and trial["workers"] == ["worker_0"]
    # Epoch n (as the metric lines number it): global step 2n - 2 in TRAIN, 2n - 1 in EVAL, mode step n.
    expected = []
    for epoch, (train, validation) in enumerate(losses, start=1):
        expected.append([2 * epoch - 2, "TRAIN", epoch, _float32(train)])
        expected.append([2 * epoch - 1, "EVAL", epoch, _float32(validation)])
    assert trial["steps"] == expected
    assert trial["train_steps"] == trial["eval_steps"] == [1, 2, 3]
    assert trial["loaded_all_steps"]  # training_job_end.ts: the trial knows no more steps will come


def test_a_missing_loss_is_left_out_and_epochs_count_from_one(debug_tensors, tmp_path):
    trial = read_trial(_write(debug_tensors, tmp_path, [(0.9, math.nan), (0.8, 0.7)]))
    assert [step[:3] for step in trial["steps"]] == [[0, "TRAIN", 1], [2, "TRAIN", 2], [3, "EVAL", 2]]
    with pytest.raises(ValueError, match="from 1"):
        debug_tensors.LossWriter(tmp_path / "other").write_epoch(0, 0.5, 0.5)


def test_the_writer_exists_only_where_the_job_names_a_folder(debug_tensors, tmp_path, monkeypatch):
    monkeypatch.delenv(debug_tensors.DIR_VARIABLE, raising=False)
    assert debug_tensors.LossWriter.from_env() is None
    monkeypatch.setenv(debug_tensors.DIR_VARIABLE, str(tmp_path / "tensors"))
    writer = debug_tensors.LossWriter.from_env()
    assert writer is not None and (tmp_path / "tensors" / "collections").is_dir()
    # On SageMaker the service marks the end of training after its last upload, as it does for the hook.
    monkeypatch.setenv("TRAINING_JOB_NAME", "job")
    writer.close()
    assert not (tmp_path / "tensors" / "training_job_end.ts").exists()


# A rule on smdebug's Rule API, invoked by smdebug's invoke_rule as the rule image invokes the built-in
# ones: at each global step it reads the "losses" collection in that step's mode.
WALK = """
import json, sys
from smdebug.exceptions import NoMoreData
from smdebug.rules import Rule, invoke_rule
from smdebug.trials import create_trial

class LossesSeen(Rule):
    def __init__(self, base_trial):
        super().__init__(base_trial, action_str="")
        self.seen = []

    def invoke_at_step(self, step):
        mode, mode_step = self.base_trial.mode(step), self.base_trial.mode_step(step)
        for name in self.base_trial.tensor_names(collection="losses"):
            value = float(self.base_trial.tensor(name).value(mode_step, mode=mode)[0])
            self.seen.append([step, mode.name, mode_step, name, round(value, 4)])
        return False

rule = LossesSeen(create_trial(sys.argv[1]))
try:
    invoke_rule(rule, start_step=0, end_step=None)  # runs until the trial says no step will come
    ended = False
except NoMoreData:
    ended = True
print(json.dumps({"seen": rule.seen, "ended": ended}))
"""


def test_smdebugs_rule_invoker_walks_every_epoch_and_ends_with_the_job(debug_tensors, tmp_path):
    folder = _write(debug_tensors, tmp_path, [(0.9, 1.0), (0.7, 0.8)])
    walked = run_smdebug(WALK, str(folder), timeout=60)
    assert walked["ended"]
    assert walked["seen"] == [
        [0, "TRAIN", 1, "loss", 0.9],
        [1, "EVAL", 1, "loss", 1.0],
        [2, "TRAIN", 2, "loss", 0.7],
        [3, "EVAL", 2, "loss", 0.8],
    ]


def _verdicts(points: list[StepPoint], rules: dict[str, dict]) -> dict[str, int | None]:
    rule_set = RuleSet(rules, [])
    for point in points:
        rule_set.feed(point)
    return {verdict.rule: verdict.step for verdict in rule_set.fired()}


def _read_back(trial: dict) -> list[StepPoint]:
    by_epoch: dict[int, dict[str, float]] = {}
    for _, mode, epoch, value in trial["steps"]:
        by_epoch.setdefault(epoch, {})[mode] = value
    return [
        StepPoint(epoch, float(epoch), losses.get("TRAIN", math.nan), losses.get("EVAL", math.nan))
        for epoch, losses in sorted(by_epoch.items())
    ]


STREAMS = {
    "flat": [(0.7, 0.8)] * 6,
    "rising validation": [(0.9 - 0.1 * e, 0.6 + 0.1 * e) for e in range(6)],
    "decreasing": [(1.0 - 0.12 * e, 1.05 - 0.12 * e) for e in range(6)],
}
RULES = {
    "LossNotDecreasing": {"num_steps": 2},
    "Overfit": {"patience": 2, "ratio_threshold": 0.2},
    "Overtraining": {"patience_train": 3, "patience_validation": 3, "delta": 0.01},
}


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_the_losses_smdebug_reads_back_fire_the_rules_as_the_metric_lines_do(debug_tensors, tmp_path, stream):
    losses = STREAMS[stream]
    lines = [
        StepPoint(epoch, float(epoch), round(t, 4), round(v, 4)) for epoch, (t, v) in enumerate(losses, 1)
    ]
    read_back = _read_back(read_trial(_write(debug_tensors, tmp_path, losses)))
    assert [p.step for p in read_back] == [p.step for p in lines]
    for ours, theirs in zip(read_back, lines, strict=True):
        assert ours.train_loss == pytest.approx(theirs.train_loss, abs=1e-4)
        assert ours.validation_loss == pytest.approx(theirs.validation_loss, abs=1e-4)
    fired = _verdicts(read_back, RULES)
    assert fired == _verdicts(lines, RULES)
    # The streams are made to tell the rules apart: a loss that stops falling fires, a falling one does not.
    expected = {
        "flat": {"LossNotDecreasing": 3, "Overtraining": 4},
        "rising validation": {"LossNotDecreasing": 3, "Overfit": 5, "Overtraining": 4},
        "decreasing": {},
    }[stream]
    assert fired == expected


def test_the_tensorflow_script_writes_each_epochs_losses_from_its_chief_only(
    debug_tensors, tmp_path, monkeypatch
):
    """train.py's Keras callback (template/pipelines/__pkg__/train_tensorflow.py) with debug_tensors.py
    beside it: Keras's epoch logs (0-based epochs, "loss" and "val_loss") as smdebug reads them back."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("tf_keras")
    monkeypatch.syspath_prepend(str(DEBUG_TENSORS.parent))  # beside train.py, as in the training job
    train = import_file(DEBUG_TENSORS.with_name("train_tensorflow.py"), "train_tensorflow_under_test")
    monkeypatch.setenv(debug_tensors.DIR_VARIABLE, str(tmp_path / "tensors"))
    checkpoints = (None, None, 0)
    assert not any(isinstance(c, train.DebuggerLosses) for c in train.make_callbacks(*checkpoints, False))
    (callback,) = [c for c in train.make_callbacks(*checkpoints, True) if isinstance(c, train.DebuggerLosses)]
    for epoch, logs in enumerate([{"loss": 0.9, "val_loss": 1.0}, {"loss": 0.8, "val_loss": 0.95}]):
        callback.on_epoch_end(epoch, logs)
    callback.on_train_end()
    trial = read_trial(tmp_path / "tensors")
    assert [step[:3] for step in trial["steps"]] == [
        [0, "TRAIN", 1],
        [1, "EVAL", 1],
        [2, "TRAIN", 2],
        [3, "EVAL", 2],
    ]
    assert [round(step[3], 4) for step in trial["steps"]] == [0.9, 1.0, 0.8, 0.95]
    assert trial["loaded_all_steps"]
