"""The project's SageMaker Feature Store feature group: what the preprocessing step stores, and how to
pull one split back (features/query.py)."""
