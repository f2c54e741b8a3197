"""AWS's numeric limits that modules without pydantic use too: the catalog, and through it the
BlazingText stand-in's training process, which must not pay for importing pydantic
(:mod:`sagespec.spec.aws_values` holds the other limits, beside its validators)."""

from __future__ import annotations

# Integers the AWS APIs declare without a maximum are 32-bit (Java Integer) on the service side.
INT32_MAX = 2**31 - 1
