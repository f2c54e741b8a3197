"""The local endpoint: `sagespec local serve` serves a generated project's registered models.

Variants, weights and model selection come from the spec's ``deployment`` section (the values the
SageMaker endpoint stack is rendered from); requests go through the project's own
``pipelines/<pkg>/inference.py``. :func:`register_serve` adds `serve` and `shift` to `sagespec local`.
"""

from .cli import register_serve

__all__ = ["register_serve"]
