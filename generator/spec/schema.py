"""JSON Schema of the spec, for editors (yaml-language-server) and `sagespec schema`."""

from __future__ import annotations

from typing import Any

from .models import Spec

SCHEMA_ID = "https://sagespec.dev/schema/spec-v1.json"


def spec_json_schema() -> dict[str, Any]:
    schema = Spec.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
