"""SageMaker pipelines of this project (the SageMaker Projects seed layout)."""
