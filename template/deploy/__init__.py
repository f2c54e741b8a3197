"""Deployment of the registered model to a SageMaker endpoint: see deploy/README.md."""
