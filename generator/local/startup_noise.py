"""TensorFlow's start-up lines that say nothing about the step: kept in the step's log, not echoed.

TensorFlow 2.21 writes them through absl before its logging is set up, so TF_CPP_MIN_LOG_LEVEL does not
silence them. On a machine without a GPU one of them is an error line, "failed call to cuInit", which
alarms a first-time user although the step runs on the CPU as it should. Only those lines are dropped:
the info lines of the three start-up notes (oneDNN, no CUDA driver, the CPU's instructions), cuInit's
"no device" failure (not one of a broken driver) and the two lines around them. Any other info line, a
warning or an error is echoed.
"""

from __future__ import annotations

import re

# absl's C++ log prefix: severity and date (MMDD), time (before absl is set up: 00:00 and the Unix
# time in seconds), thread id; then the source file:line]
_STAMP = r"\d{4} \d\d:\d\d:\d+\.\d+ +\d+ "
_NOISE = (
    re.compile("I" + _STAMP + r"(?:port|cudart_stub|cpu_feature_guard)\.cc:\d+\] "),
    # no GPU at all: "UNKNOWN ERROR (303)" on a machine without the driver, CUDA_ERROR_NO_DEVICE with it
    re.compile("E" + _STAMP + r"[\w.-]+:\d+\] failed call to cuInit: .*(?:\(303\)|CUDA_ERROR_NO_DEVICE)"),
    re.compile(r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"),
    # the second line of cpu_feature_guard's "This TensorFlow binary is optimized to use ..." note
    re.compile(r"To enable the following instructions: .*, rebuild TensorFlow with the appropriate compiler"),
)


def is_startup_noise(line: str) -> bool:
    """Whether ``line`` (one line of a step's output, without its newline) is such a start-up line."""
    return any(pattern.match(line) for pattern in _NOISE)
