"""Run a generated project's pipeline on this machine, under SageMaker's container contract.

``sagespec local run`` takes its steps from :func:`sagespec.plan.build_plan`, the same step list the
rendered SageMaker pipeline is built from. Heavy libraries (pandas, fastText, smclarify, matplotlib)
are imported only inside the step that needs them.
"""

from .runner import run_pipeline
from .runs import RunOptions, RunResult

__all__ = ["RunOptions", "RunResult", "run_pipeline"]
