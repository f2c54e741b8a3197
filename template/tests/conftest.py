"""Make the repository root importable, so the tests import `pipelines` from this checkout; and fixtures
shared by the tests that talk to a mocked AWS."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# The tests check the spec's names wherever they run: the project's CodeBuild environment sets these,
# which would give the settings modules the project's names (pipelines/project_names.py).
for variable in ("SAGEMAKER_PROJECT_NAME", "SAGEMAKER_PROJECT_ID"):
    os.environ.pop(variable, None)

# moto's default account, and where moto takes the results its Athena returns (it runs no SQL).
MOTO_ACCOUNT_ID = "123456789012"
MOTO_ATHENA_RESULTS = "http://motoapi.amazonaws.com/moto-api/static/athena/query-results"
_ATHENA_TYPES = {"i": "bigint", "u": "bigint", "f": "double", "b": "boolean"}


def athena_result_set(frame: Any) -> dict[str, Any]:
    """A pandas DataFrame as Athena's GetQueryResults sends it: every value as text, a header row first."""
    import pandas as pd

    def cell(value: Any) -> dict[str, str]:
        if pd.isna(value):
            return {}
        if isinstance(value, bool):
            return {"VarCharValue": str(value).lower()}
        return {"VarCharValue": str(value)}

    columns = [str(name) for name in frame.columns]
    rows = [{"Data": [{"VarCharValue": name} for name in columns]}]
    rows += [{"Data": [cell(value) for value in row]} for row in frame.itertuples(index=False)]
    column_info = [
        {"Name": name, "Type": _ATHENA_TYPES.get(frame[name].dtype.kind, "varchar")} for name in columns
    ]
    return {"rows": rows, "column_info": column_info}


@pytest.fixture
def queue_athena_results() -> Callable[[Iterable[Any], str], None]:
    """Inside mock_aws(): make moto's Athena answer the next queries with these DataFrames, in order."""
    import requests

    def queue(frames: Iterable[Any], region: str) -> None:
        body = {
            "account_id": MOTO_ACCOUNT_ID,
            "region": region,
            "results": [athena_result_set(frame) for frame in frames],
        }
        requests.post(MOTO_ATHENA_RESULTS, json=body, timeout=10).raise_for_status()

    return queue
