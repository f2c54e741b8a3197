"""The local stand-in for SageMaker Debugger and Profiler on a training job (``model.debugger``).

``sampler`` samples system utilisation at the spec's interval, ``stream`` reads the training script's
metric lines as they come, ``rules`` evaluates the spec's built-in rules with their parameters on that
stream, ``watch`` ties them to one running job (and stops it when a ``stop_training_on`` rule fires),
and ``report`` writes the profiler report: ``profiler-report.html`` and ``rule-verdicts.json``.
"""
