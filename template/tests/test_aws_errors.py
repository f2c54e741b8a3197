"""Every command that talks to AWS fails with one clear line, not a traceback, when AWS is not set up.

Each command runs in a subprocess with no AWS configuration at all: no AWS_* variables, empty config and
credentials files, the EC2 metadata service off, and a proxy that refuses every connection, so nothing
can reach the network even by mistake (a request sent anyway would fail with another message).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from pipelines.aws_errors import CONFIGURATION, REMOTE, describe, reports_aws_errors

PROJECT = Path(__file__).resolve().parents[1]
ROLE = "arn:aws:iam::111122223333:role/Example"
NO_CREDENTIALS = "error: no AWS credentials:"


def no_aws_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.update(
        {
            "HOME": str(tmp_path),  # no ~/.aws either
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "HTTP_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": "",
            **extra,
        }
    )
    return env


CSV = "{tmp}/reviews.csv"  # "{tmp}" stands for the test's own folder
COMMANDS = [
    # (file that must exist in this project, arguments after `python -m`, how the line starts)
    # The pipeline's commands name their region (REGION=..., else the spec's): only credentials lack.
    ("pipelines", ["pipelines.run_pipeline", "upsert", "--role-arn", ROLE], NO_CREDENTIALS),
    ("pipelines", ["pipelines.run_pipeline", "start"], NO_CREDENTIALS),
    (
        "pipelines",
        ["pipelines.run_pipeline", "start", "--kwargs", '{{"region": "eu-west-1"}}'],
        NO_CREDENTIALS,
    ),
    ("deploy", ["deploy.cli", "describe"], NO_CREDENTIALS),
    ("labeling/human_review.py", ["labeling.human_review", "create", "--role-arn", ROLE], NO_CREDENTIALS),
    ("labeling", ["labeling.retraining_data", "--out", "{tmp}/retraining.csv"], NO_CREDENTIALS),
    ("labeling", ["labeling.review_predictions", CSV], NO_CREDENTIALS),
    ("labeling/ground_truth.py", ["labeling.ground_truth", "start", CSV, "--role-arn", ROLE], NO_CREDENTIALS),
    ("labeling/workforce.py", ["labeling.workforce", "create"], NO_CREDENTIALS),
    ("explore", ["explore", "athena"], NO_CREDENTIALS),
    ("features", ["features.query", "test", "--athena"], NO_CREDENTIALS),
]


def run_without_aws(tmp_path: Path, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *argv],
        cwd=PROJECT,
        env=no_aws_environment(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], expected: str, status: int) -> None:
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith(expected), result.stderr[-3000:]
    assert result.returncode == status, result.stderr


@pytest.mark.parametrize(("needs", "argv", "expected"), COMMANDS, ids=[" ".join(c[1][:2]) for c in COMMANDS])
def test_every_aws_command_says_what_is_missing(
    tmp_path: Path, needs: str, argv: list[str], expected: str
) -> None:
    if not (PROJECT / needs).exists():
        pytest.skip(f"no {needs} in this project")
    if CSV in argv:  # the commands read their reviews before they call AWS
        from labeling import settings

        Path(CSV.format(tmp=tmp_path)).write_text(f"{settings.TEXT_COLUMN}\nLovely dress\n")
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    result = run_without_aws(tmp_path, argv)
    assert_one_line(result, expected, CONFIGURATION)


@pytest.mark.parametrize("argv", [["pipelines.run_pipeline", "start"], ["deploy.cli", "describe"]])
def test_an_unknown_profile_is_named(tmp_path: Path, argv: list[str]) -> None:
    if not (PROJECT / argv[0].split(".")[0]).exists():
        pytest.skip(f"no {argv[0]} in this project")
    result = run_without_aws(tmp_path, argv, AWS_PROFILE="no-such-profile", AWS_DEFAULT_REGION="us-east-1")
    assert_one_line(result, "error: no AWS profile 'no-such-profile'", CONFIGURATION)


def client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "StartPipelineExecution")


@pytest.mark.parametrize(
    ("error", "expected", "status"),
    [
        # botocore ignores AWS_REGION: the hint names the variable it reads.
        (
            NoRegionError(),
            "no AWS region: set AWS_DEFAULT_REGION or your AWS profile's region",
            CONFIGURATION,
        ),
        (NoCredentialsError(), "no AWS credentials: set AWS_PROFILE", CONFIGURATION),
        (
            PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"),
            "incomplete AWS credentials in env: AWS_SECRET_ACCESS_KEY is missing",
            CONFIGURATION,
        ),
        (ProfileNotFound(profile="dev"), "no AWS profile 'dev'", CONFIGURATION),
        (
            client_error("ExpiredToken", "The security token included\nin the request is expired"),
            "AWS refused StartPipelineExecution: ExpiredToken: The security token included in the request "
            "is expired (refresh your credentials",
            REMOTE,
        ),
        (
            client_error("AccessDeniedException", "not authorized to perform sagemaker:Start"),
            "AWS refused StartPipelineExecution: AccessDeniedException: not authorized",
            REMOTE,
        ),
        (
            EndpointConnectionError(endpoint_url="https://api.sagemaker.xx-nowhere-1.amazonaws.com/"),
            'cannot reach AWS: Could not connect to the endpoint URL: "https://api.sagemaker.xx-nowhere-1',
            REMOTE,
        ),
    ],
)
def test_each_aws_error_reads_as_one_line(error: Exception, expected: str, status: int) -> None:
    line, code = describe(error)  # type: ignore[arg-type]
    assert line.startswith(expected) and "\n" not in line and code == status


def test_the_decorator_exits_with_the_line(capsys: pytest.CaptureFixture[str]) -> None:
    @reports_aws_errors
    def main() -> int:
        raise client_error("AccessDenied", "no")

    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == REMOTE
    assert capsys.readouterr().err == "error: AWS refused StartPipelineExecution: AccessDenied: no\n"
