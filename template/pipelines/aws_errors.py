"""One clear line, not a traceback, when a command of this project cannot talk to AWS.

Every command that calls AWS (``pipelines.run_pipeline``, ``deploy.cli``, ``labeling.*``,
``explore athena``, ``features.query --athena``) wraps its ``main()`` in :func:`reports_aws_errors`.
A missing region, missing or partial credentials, an unknown profile, a refusal from AWS or an
unreachable endpoint then ends the command with one line on stderr, ``error: <what is wrong>: <how to fix it>``.

Exit status, one rule for every command:

- 2: this machine's AWS configuration is missing or wrong (no region, no credentials, a profile that is
  not configured). Nothing was sent; fix the configuration and run the command again.
- 1: AWS was asked and the request failed: AWS refused it (access denied, an expired token, a resource
  that does not exist, ...) or could not be reached.

The module lives in ``pipelines/`` because every generated project has that package; the other packages
import it from there (the commands run from the project root, where ``pipelines`` is importable).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)
from botocore.exceptions import ConnectionError as ConnectionFailure

CONFIGURATION = 2  # exit status: the local AWS configuration is missing or wrong
REMOTE = 1  # exit status: AWS refused the request or could not be reached

# botocore takes the region from AWS_DEFAULT_REGION or the profile; it ignores AWS_REGION.
REGION_HINT = (
    "set AWS_DEFAULT_REGION or your AWS profile's region (aws configure), or pass REGION=... to make"
)
CREDENTIALS_HINT = (
    "set AWS_PROFILE to a profile from `aws configure` or `aws sso login`, "
    "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)
# Codes AWS answers with when the credentials themselves are stale: the fix is local, not in IAM.
EXPIRED_CODES = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidClientTokenId"}


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def describe(error: BotoCoreError | ClientError) -> tuple[str, int]:
    """The line to print for ``error`` (without the ``error:`` prefix) and the exit status."""
    if isinstance(error, NoRegionError):
        return f"no AWS region: {REGION_HINT}", CONFIGURATION
    if isinstance(error, NoCredentialsError):
        return f"no AWS credentials: {CREDENTIALS_HINT}", CONFIGURATION
    if isinstance(error, PartialCredentialsError):
        missing = error.kwargs.get("cred_var", "a value")
        provider = error.kwargs.get("provider", "the configuration")
        return f"incomplete AWS credentials in {provider}: {missing} is missing", CONFIGURATION
    if isinstance(error, ProfileNotFound):
        profile = error.kwargs.get("profile", "?")
        return (
            f"no AWS profile {profile!r}: unset AWS_PROFILE or create it with "
            f"`aws configure --profile {profile}`",
            CONFIGURATION,
        )
    if isinstance(error, SSOError | TokenRetrievalError | CredentialRetrievalError):
        return f"AWS credentials could not be loaded: {_one_line(error)} (try `aws sso login`)", CONFIGURATION
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code", "Unknown")
        message = _one_line(details.get("Message", "")) or "no message"
        line = f"AWS refused {error.operation_name}: {code}: {message}"
        if code in EXPIRED_CODES:
            line += " (refresh your credentials, e.g. `aws sso login`)"
        return line, REMOTE
    # EndpointConnectionError, connect/read timeouts, proxy and TLS failures.
    if isinstance(error, ConnectionFailure | HTTPClientError):
        return f"cannot reach AWS: {_one_line(error)} (check the region and the network)", REMOTE
    return f"AWS: {_one_line(error)}", REMOTE


def reports_aws_errors(main: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``main``; on an AWS error print :func:`describe`'s line to stderr and exit with its status."""

    @functools.wraps(main)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except (BotoCoreError, ClientError) as error:
            line, status = describe(error)
            print(f"error: {line}", file=sys.stderr)
            raise SystemExit(status) from None

    return run
