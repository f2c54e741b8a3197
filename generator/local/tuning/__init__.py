"""The spec's hyperparameter search on this machine, with Optuna: `sagespec local tune`, and the TuneModel
step of `sagespec local run`.

The search is the one the generated pipeline's SageMaker tuning job runs: the same ranges, objective,
strategy, job count and parallelism, read from the same ``tuning`` section of the spec. Each trial is one
training job under SageMaker's training contract (the fastText stand-in for BlazingText, or the
project's train.py), run by :func:`sagespec.local.training.run_training_job` in its own folder
``<run>/TuneModel/trials/trial-NNN/`` and process; up to ``max_parallel_jobs`` run at once.

How SageMaker's settings map onto Optuna:

- strategy ``Random`` -> ``RandomSampler``.
- strategy ``Bayesian`` -> ``TPESampler``. SageMaker's Bayesian search fits a Gaussian process; TPE is
  Optuna's model-based sampler that needs no extra dependencies. Like SageMaker it starts with random
  trials (a third of the budget, 2 to 10) and, with parallel trials, treats the running ones as
  pessimistic guesses (constant liar) so they are not proposed twice.
- strategy ``Grid`` -> ``GridSampler`` over the categorical values: every combination exactly once.
- strategy ``Hyperband`` -> ``RandomSampler`` + ``HyperbandPruner(min_resource=1,
  max_resource=MaxResource)``, fed with the objective each epoch, as the pipeline's
  ``HyperbandStrategyConfig`` says.
- ``early_stopping: Auto`` -> ``MedianPruner``: a trial whose objective at an epoch is worse than the
  median of earlier trials at that epoch is stopped (SageMaker's rule compares running averages).

Per-epoch values come from the training log: the generated train.py prints
``epoch=N ... validation:accuracy=X`` every epoch; the BlazingText stand-in prints
``epochs=N #train_accuracy: X  #validation_accuracy: Y`` for each early-stopping candidate. A trial is
``Completed`` with the last objective value it printed (what SageMaker's metric definitions keep),
``Stopped`` when a pruner ended it, or ``Failed`` when the job failed or printed no objective; a failed
trial does not end the search. The best completed trial's model.tar.gz becomes the step's ``model``.

Scaling of continuous and integer ranges:

- ``Linear`` -> uniform; ``Logarithmic`` -> ``log=True``;
- ``ReverseLogarithmic`` (continuous, 0 <= min < max < 1) -> ``1 - u`` with ``u`` log-uniform in
  ``[1 - max, 1 - min]``: dense near ``max``, as SageMaker samples it;
- ``Auto`` -> linear for integers; for continuous ranges, logarithmic when ``min > 0`` and the range
  spans at least two orders of magnitude (``max / min >= 100``), else linear.

Results, in ``<run>/TuneModel/tuning/``: ``results.csv`` and ``results.md`` (one row per trial, with the
columns of SageMaker's tuning analytics: hyperparameters, TrainingJobName, TrainingJobStatus,
FinalObjectiveValue, times), ``objective_by_trial.png``, ``objective_vs_hyperparameters.png`` and
``best.json``. Warm start names SageMaker tuning jobs, which a local search cannot read: it starts cold.

Modules: ``space`` (the ranges as Optuna samples them), ``settings`` (the search, its sampler and
pruner), ``search`` (the loop), ``trials`` (a trial's outcome), ``report`` (the results files).
"""

from .search import SearchResult, epoch_value, run_search
from .settings import SearchSettings
from .space import Dimension
from .trials import TrialResult, best_trial

__all__ = [
    "Dimension",
    "SearchResult",
    "SearchSettings",
    "TrialResult",
    "best_trial",
    "epoch_value",
    "run_search",
]
