"""Check AWS API requests offline against botocore's service models: would the service accept them?

botocore's ParamValidator (what boto3 runs before sending) checks types, required members and minimum
sizes. The service also enforces maximums, enums and patterns, which boto3 lets through;
request_problems() checks those too, so a test finds what AWS would refuse without calling AWS.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape
from botocore.validate import ParamValidator


@cache
def operation_model(service: str, operation: str) -> OperationModel:
    """The model of one API operation, e.g. ("sagemaker", "CreateEndpointConfig")."""
    return botocore.session.get_session().get_service_model(service).operation_model(operation)


def request_problems(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    """Everything the service would refuse in ``params``; empty when the request is valid."""
    shape = operation_model(service, operation).input_shape
    report = ParamValidator().validate(params, shape)
    problems = [report.generate_report()] if report.has_errors() else []
    return problems + list(constraint_violations(params, shape, operation))


def constraint_violations(value: Any, shape: Shape, path: str) -> Iterator[str]:
    """Maximum, enum and pattern violations, which ParamValidator does not check."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                yield from constraint_violations(item, shape.members[key], f"{path}.{key}")
        return
    if isinstance(shape, ListShape) and isinstance(value, list):
        yield from _over_maximum(value, shape, path)
        for index, item in enumerate(value):
            yield from constraint_violations(item, shape.member, f"{path}[{index}]")
        return
    if isinstance(shape, MapShape) and isinstance(value, dict):
        yield from _over_maximum(value, shape, path)
        for key, item in value.items():
            yield from constraint_violations(key, shape.key, f"{path} key {key!r}")
            yield from constraint_violations(item, shape.value, f"{path}[{key!r}]")
        return
    yield from _over_maximum(value, shape, path)
    if shape.type_name == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            yield f"{path}: {value!r} is not a {shape.name} ({len(shape.enum)} allowed values)"
        pattern = shape.metadata.get("pattern")
        if pattern:
            try:
                compiled = re.compile(pattern)
            except re.error:  # a Java-only construct (\p{L}, ...): leave it to the service
                return
            if not compiled.fullmatch(value):  # the service matches the whole value
                yield f"{path}: {value!r} does not match the {shape.name} pattern {pattern}"


def _over_maximum(value: Any, shape: Shape, path: str) -> Iterator[str]:
    maximum = shape.metadata.get("max")
    if maximum is None or isinstance(value, bool):
        return
    size = len(value) if isinstance(value, str | list | dict) else value
    if isinstance(size, int | float) and size > maximum:
        yield f"{path}: {value!r} is over the {shape.name} maximum {maximum}"
