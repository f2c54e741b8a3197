"""What AWS (and the generated code) accepts for the spec's values, as pydantic types and validators.

Each check raises ``ValueError`` with the real limit in words; pydantic turns it into an error at the
field's location. The numeric limits are module constants so that the models and the tests that
compare them with botocore's service model share one source.
"""

from __future__ import annotations

import ipaddress
import keyword
import re
import sys
import unicodedata
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, Field

# (The 32-bit integer limit, INT32_MAX, is in aws_limits.py: the catalog needs it without pydantic.)
# Floats they declare without a maximum (VariantWeight) are 32-bit (Java Float).
FLOAT32_MAX = 3.4028234663852886e38
# Application Auto Scaling's TargetValue: "values must be in the range of -2^360 to 2^360".
TARGET_VALUE_MAX = float(2**360)

# CreateProcessingJob's ContainerArguments: each at most 256 characters, pattern '.*' (one line).
CONTAINER_ARGUMENT_MAX = 256
# CreateHumanTaskUi's UiTemplate.Content: at most 128,000 characters.
UI_TEMPLATE_MAX = 128_000
# S3: an object key is at most 1,024 bytes of UTF-8; botocore's S3Uri shape is at most 1,024 characters.
S3_KEY_MAX_BYTES = 1024
S3_URI_MAX = 1024


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def bounded(kind: type, low: float, high: float, why: str, *, exclusive_low: bool = False) -> Any:
    """``kind`` limited to [low, high] (or (low, high]), refused with ``why`` the limit is what it is.

    Written as "not within" so that NaN, for which every comparison is false, is refused too. The JSON
    Schema carries the same bounds for editors.
    """
    lowest = f"greater than {_number(low)}" if exclusive_low else f"at least {_number(low)}"

    def check(value: float) -> float:
        above = value > low if exclusive_low else value >= low
        if not (above and value <= high):
            raise ValueError(f"must be {lowest} and at most {_number(high)} ({why}), got {value!r}")
        return value

    schema = {"exclusiveMinimum" if exclusive_low else "minimum": low, "maximum": high}
    return Annotated[kind, AfterValidator(check), Field(json_schema_extra=schema)]


# Line terminators of Java regular expressions, which AWS's '.*' / '.+' patterns do not match.
LINE_BREAKS = frozenset("\n\r\u0085\u2028\u2029")


def control_character(text: str) -> str | None:
    """The first control character (Unicode category Cc) or line break in ``text``, if any."""
    for char in text:
        if char in LINE_BREAKS or unicodedata.category(char) == "Cc":
            return char
    return None


def check_one_line(value: str) -> str:
    """A single line of text without control characters (AWS's '.+' patterns, one container argument)."""
    char = control_character(value)
    if char is not None:
        raise ValueError(f"must not contain control characters or line breaks, got {char!r}")
    return value


def check_visible_text(value: str) -> str:
    """Text a person reads: at least one visible character (whitespace alone renders as nothing)."""
    if not value.split():
        raise ValueError("must contain some visible text, not only whitespace or separator characters")
    return value


def aws_pattern(pattern: str, max_length: int, what: str) -> Callable[[str], str]:
    """A validator: the value matches ``pattern`` (an AWS API member's) and is at most ``max_length``."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if len(value) > max_length or not compiled.fullmatch(value):
            raise ValueError(f"must be {what} (at most {max_length} characters), got {value!r}")
        return value

    return check


def text(max_length: int, why: str, check: Callable[[str], str] | None = None) -> Any:
    """A non-empty string of at most ``max_length`` characters (refused with ``why``), then ``check``."""

    def validate(value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        if len(value) > max_length:
            raise ValueError(f"must be at most {max_length:,} characters ({why}), got {len(value):,}")
        return check(value) if check else value

    schema = {"minLength": 1, "maxLength": max_length}
    return Annotated[str, AfterValidator(validate), Field(json_schema_extra=schema)]


def check_alarm_name(value: str) -> str:
    """A CloudWatch alarm name: one line, not only blanks (pattern '(?!\\s*$).+'); it is written into the
    endpoint's CloudFormation template."""
    check_one_line(value)
    if not value.strip():
        raise ValueError("must not be blank (CloudWatch alarm names have a non-space character)")
    return check_no_cfn_reference(value)


def check_no_cfn_reference(value: str) -> str:
    """Text written into a CloudFormation template, where ``${...}`` reads as a reference to a parameter or
    resource (and cfn-lint refuses it outside !Sub)."""
    if "${" in value:
        raise ValueError(
            "must not contain '${': the value is written into a CloudFormation template, which reads "
            "${...} as a reference to a parameter or resource"
        )
    return value


# A value passed to the processing container as one argument (a column name, a model id).
ContainerArgument = text(
    CONTAINER_ARGUMENT_MAX, "SageMaker's limit on one container argument", check_one_line
)


def check_no_sub_placeholder(value: str) -> str:
    """Text that lands in a CloudFormation ``!Sub`` string, where ``${...}`` would be a reference."""
    if "${" in value:
        raise ValueError(
            "must not contain '${' (the value lands in a CloudFormation !Sub string, where ${...} is a "
            "reference to a parameter or resource)"
        )
    return value


# --- S3
# General purpose bucket naming rules (Amazon S3 User Guide, "General purpose bucket naming rules").
BUCKET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_problem(bucket: str) -> str | None:
    """Why ``bucket`` is not a valid S3 general purpose bucket name, or None."""
    if not 3 <= len(bucket) <= 63:
        return f"bucket names are 3-63 characters, got {len(bucket)} ({bucket!r})"
    if not BUCKET_PATTERN.fullmatch(bucket):
        return (
            f"bucket {bucket!r}: bucket names are lower-case letters, digits, '.' and '-', starting and "
            "ending with a letter or digit"
        )
    if ".." in bucket:
        return f"bucket {bucket!r}: bucket names must not contain two adjacent periods"
    try:
        ipaddress.IPv4Address(bucket)
    except ValueError:
        pass
    else:
        return f"bucket {bucket!r}: bucket names must not be formatted as an IP address"
    for prefix in BUCKET_RESERVED_PREFIXES:
        if bucket.startswith(prefix):
            return f"bucket {bucket!r}: the prefix {prefix!r} is reserved by S3"
    for suffix in BUCKET_RESERVED_SUFFIXES:
        if bucket.endswith(suffix):
            return f"bucket {bucket!r}: the suffix {suffix!r} is reserved by S3"
    return None


def check_s3_uri(value: str) -> str:
    """``s3://bucket[/key]`` with a valid bucket name and a key without control characters."""
    if not value.startswith("s3://"):
        raise ValueError(f"must be an s3:// URI such as 's3://my-bucket/prefix', got {value!r}")
    if len(value) > S3_URI_MAX:
        raise ValueError(
            f"must be at most {S3_URI_MAX} characters (SageMaker's S3Uri limit), got {len(value)}"
        )
    bucket, _, key = value.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError(f"must name a bucket, as in 's3://my-bucket/prefix', got {value!r}")
    problem = bucket_problem(bucket)
    if problem:
        raise ValueError(f"{problem}, in {value!r}")
    char = control_character(key)
    if char is not None:
        raise ValueError(f"S3 keys must not contain control characters, got {char!r} in {value!r}")
    if len(key.encode()) > S3_KEY_MAX_BYTES:
        raise ValueError(f"S3 keys are at most {S3_KEY_MAX_BYTES} bytes of UTF-8, got {len(key.encode())}")
    return value


def check_s3_uri_in_sub(value: str) -> str:
    """An S3 URI that the generated CloudFormation also writes inside a ``!Sub`` string."""
    return check_no_sub_placeholder(check_s3_uri(value))


# --- the pipeline's Python package (pipelines/<package>)
# Modules beside the package in the generated project: the package must not collide with them, nor
# shadow them when a script runs with pipelines/ on sys.path (python pipelines/run_pipeline.py).
PROJECT_MODULES = frozenset(
    {
        "pipelines",
        "run_pipeline",
        "aws_errors",
        "project_names",
        "tests",
        "deploy",
        "labeling",
        "features",
        "explore",
        "studio",
    }
)


def package_problem(package: str) -> str | None:
    """Why ``package`` cannot be the generated pipeline's package name ``pipelines.<package>``, or None.

    Soft keywords (``match``, ``case``, ``type``) are allowed: they are ordinary names in an import
    (``from pipelines.match import pipeline`` parses), and the package name is used nowhere else.
    """
    if not package.isidentifier() or not package.isascii():
        return f"{package!r} is not a Python identifier"
    if keyword.iskeyword(package):
        return f"{package!r} is a Python keyword ('from pipelines.{package} import ...' is a SyntaxError)"
    if package in PROJECT_MODULES:
        return f"{package!r} is already a module of the generated project"
    if package in sys.stdlib_module_names:
        return f"{package!r} is a standard library module, which the pipeline package would shadow"
    return None
