"""Check AWS requests against botocore's service models, offline.

botocore validates a request's member names, required members, types and minimum lengths before it sends
it; enums, maximum lengths and patterns it leaves to the service. :func:`request_problems` checks all of
them, so a bad request fails in a test or before the first call of a multi-step change, not half-way
through it. :func:`validate_requests` makes a client check every request it builds.

botocore is imported inside the functions: nothing on the ``sagespec new`` path needs it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequestError

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from botocore.model import OperationModel, ServiceModel, Shape


def operation_model(service: str, operation: str) -> OperationModel:
    """The model of one operation, e.g. ``("servicecatalog", "CreateProduct")``."""
    return _service_model(service).operation_model(operation)


@cache
def _service_model(service: str) -> ServiceModel:
    import botocore.session

    return botocore.session.get_session().get_service_model(service)


def request_problems(operation: OperationModel, params: Mapping[str, Any]) -> list[str]:
    """Every way ``params`` breaks ``operation``'s input shape; empty when the request is valid.

    Members botocore fills in itself (idempotency tokens) may be missing.
    """
    from botocore.validate import ParamValidator

    shape = operation.input_shape
    if shape is None:
        return [f"{name}: {operation.name} takes no parameters" for name in params]
    tokens = {name: "token" for name in shape.members if shape.members[name].metadata.get("idempotencyToken")}
    report = ParamValidator().validate({**tokens, **params}, shape)
    problems = report.generate_report().splitlines() if report.has_errors() else []
    _check_constraints(params, shape, operation.name, problems)
    return problems


def _check_constraints(value: Any, shape: Shape, path: str, problems: list[str]) -> None:
    """What ParamValidator leaves out: enums, maximum lengths and sizes, and string patterns."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        for name, member in value.items():
            if name in shape.members:
                _check_constraints(member, shape.members[name], f"{path}.{name}", problems)
    elif kind == "list" and isinstance(value, list | tuple):
        _check_max(len(value), shape, path, "items", problems)
        for i, item in enumerate(value):
            _check_constraints(item, shape.member, f"{path}[{i}]", problems)
    elif kind == "map" and isinstance(value, Mapping):
        for key, item in value.items():
            _check_constraints(key, shape.key, f"{path} key {key!r}", problems)
            _check_constraints(item, shape.value, f"{path}[{key!r}]", problems)
    elif kind == "string" and isinstance(value, str):
        enum = getattr(shape, "enum", None)
        if enum and value not in enum:
            problems.append(f"{path}: {value!r} is not one of {', '.join(enum)}")
        _check_max(len(value), shape, path, "characters", problems)
        pattern = _pattern(shape.metadata.get("pattern"))
        if pattern is not None and not pattern.fullmatch(value):
            problems.append(f"{path}: {value!r} does not match {pattern.pattern}")
    elif kind in ("integer", "long", "double", "float") and isinstance(value, int | float):
        maximum = shape.metadata.get("max")
        if maximum is not None and value > maximum:
            problems.append(f"{path}: {value} is above the maximum {maximum}")


def _check_max(size: int, shape: Shape, path: str, unit: str, problems: list[str]) -> None:
    maximum = shape.metadata.get("max")
    if maximum is not None and size > maximum:
        problems.append(f"{path}: {size} {unit}, at most {maximum} allowed")


@lru_cache(maxsize=512)
def _pattern(text: str | None) -> re.Pattern[str] | None:
    """The model's pattern (a Java regex; nearly always valid in Python too), or None."""
    if not text:
        return None
    try:
        return re.compile(text)
    except re.error:
        return None


def check_request(service: str, operation: str, params: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidRequestError` unless ``params`` fit the operation's input shape."""
    problems = request_problems(operation_model(service, operation), params)
    if problems:
        raise InvalidRequestError(_message(service, operation, problems))


def validate_requests(client: BaseClient) -> BaseClient:
    """Make ``client`` check each request before it is built; return the client.

    The check runs after botocore's own parameter handlers (which add idempotency tokens), so it sees
    the request as it would be sent. A bad request raises :class:`InvalidRequestError`, unsent.
    """
    service_id = client.meta.service_model.service_id.hyphenize()

    def check(params: dict[str, Any], model: OperationModel, **_: Any) -> None:
        problems = request_problems(model, params)
        if problems:
            raise InvalidRequestError(_message(client.meta.service_model.service_name, model.name, problems))

    client.meta.events.register_last(f"before-parameter-build.{service_id}", check)
    return client


def _message(service: str, operation: str, problems: list[str]) -> str:
    return f"invalid {service} {operation} request:\n  " + "\n  ".join(problems)
