"""sagespec: one YAML spec -> a complete, working Amazon SageMaker Projects repository."""

__version__ = "0.1.0"
