"""The local stand-in for SageMaker Autopilot: a small AutoML search over text-classification families.

Autopilot is a managed service, not a container, so locally ``python -m sagespec.local.automl`` runs in
its place under the training contract (like :mod:`sagespec.local.blazingtext` for BlazingText): the AutoML
settings in ``/opt/ml/input/config/hyperparameters.json`` (the spec's max_candidates, objective, mode and
time limits, see :func:`sagespec.plan.automl_settings`), the text,label CSV parts in the ``train`` and
``validation`` channels; the best candidate written to ``/opt/ml/model`` and the leaderboard (CSV,
Markdown, a plot) to ``/opt/ml/output/data``.

- :mod:`.families`: the candidate families (TF-IDF + logistic regression, TF-IDF + linear SVM-like SGD,
  fastText, TF-IDF + SVD + gradient boosting, complement naive Bayes), their defaults, search spaces and
  how each is trained and saved;
- :mod:`.search`: the search (Optuna: each family's defaults first, then TPE), with the objective, the
  candidate count and both time limits;
- :mod:`.leaderboard`: the leaderboard files.
"""
