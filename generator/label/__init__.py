"""`sagespec local label` and `sagespec local retrain-data`: human review of a local run's predictions.

The page renders the project's own worker task template (labeling/worker_task.liquid.html) with the
project's own Liquid setup (labeling/task_template.py), one low-confidence prediction of the latest local
run after another, with small local stand-ins for AWS's Crowd HTML Elements. Answers are written in
Amazon A2I's output format, and retrain-data turns them into rows with the project's own
labeling/retraining_data.py, the code that reads A2I's answers from S3. One implementation for both.
"""

from .cli import register_label

__all__ = ["register_label"]
