"""The CheckDataBias step's own process: ``python -m sagespec.local.bias_job``.

On SageMaker the bias check is a Clarify processing job, a container of its own; locally it is a process
of its own too, which computes the metrics with smclarify (:func:`sagespec.local.bias.compute_bias`) and
writes ``report.json`` into ``--output-dir``, where the runner reads it back. The runner never loads
smclarify, pandas or SciPy itself: the step's process is forked from the run's fork server, which
imports them while the data steps run (see local/forkserver.py).

Exit codes: 0 done; 2 the data does not fit (a DataError); 3 the check cannot be computed (a
LocalRunError, such as a facet smclarify rejects). Either way the last line of stderr is the error's
message, which the runner raises again as the same error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import DataError, LocalRunError
from .bias import BiasCheck, compute_bias

EXIT_BAD_INPUT = 2
EXIT_CHECK_FAILED = 3


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sagespec.local.bias_job", description=__doc__)
    parser.add_argument("--bias-dir", type=Path, required=True, help="PreprocessData's bias output")
    parser.add_argument("--output-dir", type=Path, required=True, help="where report.json goes")
    parser.add_argument("--bias", required=True, help="the check's settings (BiasCheck), as JSON")
    parser.add_argument(
        "--columns", required=True, help="the bias parts' columns (Spec.bias_columns), as JSON"
    )
    args = parser.parse_args(argv)
    bias = BiasCheck.from_json(args.bias)
    try:
        compute_bias(args.bias_dir, bias, args.output_dir, columns=json.loads(args.columns), chart=False)
    except DataError as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_INPUT
    except LocalRunError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CHECK_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
