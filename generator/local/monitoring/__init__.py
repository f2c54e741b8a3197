"""Model Monitor on this machine: its file formats and its checks, for the baselines a local run suggests
and for ``sagespec local monitor``.

- :mod:`.statistics`: a table of monitored features -> ``statistics.json`` (Model Monitor's schema for
  statistics: per feature its inferred type, counts, numbers or class shares, a quantile sketch)
- :mod:`.constraints`: the constraints Model Monitor's analyzer suggests from baseline statistics
  (``constraints.json``) and the data-quality check of current statistics against them
  (``constraint_violations.json``: data_type_check, completeness_check, baseline_drift_check,
  missing_column_check, extra_column_check, categorical_values_check)
- :mod:`.model_quality`: multiclass metrics of predictions beside true classes, their suggested
  constraints (each metric's baseline value, LessThanThreshold) and the check
- :mod:`.baseline`: what the plan's quality-check steps do: a baseline CSV -> statistics and constraints
- :mod:`.captures`: the endpoint's captured traffic and the ground truth given for it, as SageMaker's data
  capture and Model Monitor's ground-truth files lay them out
- :mod:`.monitor`: one monitoring run over a variant's captured traffic; :mod:`.report`: its HTML page
"""
