"""A quality-check step of a local run (BaselineDataQuality, BaselineModelQuality): the baseline CSV
EvaluateModel wrote -> ``statistics.json`` and ``constraints.json`` in the step's
``processing/output`` folder (SageMaker's QualityCheckStep writes them under its output S3 URI), which
RegisterModel records as the model's drift-check baselines."""

from __future__ import annotations

from pathlib import Path

from ...plan import Step
from .. import cache
from ..artifacts import file_digest
from ..runs import StepResult, write_step_record
from ..session import RunSession
from .baseline import CONSTRAINTS_FILE, STATISTICS_FILE, suggest_baseline

OUTPUT_DIR = "processing/output"  # under the step's folder, as /opt/ml/processing/output


def run_quality_check(session: RunSession, step: Step, record: StepResult) -> None:
    folder = record.folder
    assert folder is not None and step.check is not None
    source = session.source(step.inputs[0].source) / step.inputs[0].destination
    implementation = {path.name: file_digest(path) for path in sorted(Path(__file__).parent.glob("*.py"))}
    key = cache.step_key(
        {
            "step": step.name,
            "kind": step.kind,
            "check": step.check,
            "implementation": implementation,
            "inputs": session.digest(source) if source.is_file() else None,
        }
    )
    output = folder / OUTPUT_DIR
    record.outputs = {"statistics": output / STATISTICS_FILE, "constraints": output / CONSTRAINTS_FILE}
    if not session.cached(step, record, key):
        record.details = suggest_baseline(step.check, source, output)
        record.status = "done"
    session.outputs[step.name] = record.outputs
    session.say(f"      {step.check} baseline of {record.details.get('rows', 0)} rows")
    write_step_record(step, record, key)
