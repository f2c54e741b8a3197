"""Scale-out processing: SageMaker's input distribution across a processing job's instances, locally.

A processing job with N instances downloads a ``ShardedByS3Key`` input so that each instance gets its
own share of the objects, and a ``FullyReplicated`` input whole to every instance; each instance
uploads its outputs to the same S3 prefix, where they merge. ``sagespec local run
--processing-instances N`` does the same with N worker processes of the step's script:

- worker ``i`` (0-based) gets files ``i, i+N, i+2N, ...`` of the sorted relative paths of each sharded
  input, and every file of each replicated input, in its own input tree
  ``<step>/workers/<i>/processing/input/...`` (its ``/opt/ml/processing/input``);
- every worker writes into the step's one set of output folders (``<step>/processing/output/...``);
- a step whose sharded input holds fewer files than N runs only as many workers as there are files
  (at least one), as an instance with no share would have nothing to do.

One worker keeps the single-instance layout (inputs in ``<step>/processing/input``, log in
``<step>/logs/output.log``); with several, worker ``i`` logs to ``<step>/logs/output-<i>.log``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..plan import Step
from .artifacts import copy_into, relative_files
from .contract import local_path

SHARDED = "ShardedByS3Key"
WORKERS_DIR = "workers"


def worker_count(sharded_file_counts: Iterable[int], instances: int) -> int:
    """How many workers run: ``instances``, but no more than the largest sharded input has files; one
    when no input is sharded (every instance would do the same work) or the inputs are empty."""
    if instances < 1:
        raise ValueError(f"instances must be at least 1, got {instances}")
    most = max(sharded_file_counts, default=1)
    return max(1, min(instances, most))


def shard(files: Sequence[str], workers: int) -> list[list[str]]:
    """Worker ``i``'s share of ``files``: sorted file ``i``, ``i + workers``, ``i + 2 * workers``, ..."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    ordered = sorted(files)
    return [ordered[i::workers] for i in range(workers)]


@dataclass(frozen=True)
class Worker:
    """One worker process of a processing step: where its inputs go and which files each one gets."""

    index: int
    root: Path  # stands in for this worker's /opt/ml for its inputs
    files: dict[str, list[str]]  # input name -> its share (every file, for a replicated input)
    log: Path

    def input_folders(self, step: Step) -> dict[str, Path]:
        """Container path of each input -> its local folder in this worker's tree."""
        return {inp.destination: local_path(inp.destination, self.root) for inp in step.inputs}

    def place_inputs(self, step: Step, sources: Mapping[str, Path]) -> None:
        for inp in step.inputs:
            copy_into(sources[inp.name], local_path(inp.destination, self.root), self.files[inp.name])


def plan_workers(step: Step, sources: Mapping[str, Path], instances: int, folder: Path) -> list[Worker]:
    """The workers ``step`` runs in its folder ``folder`` with ``instances`` processing instances."""
    listed = {inp.name: relative_files(sources[inp.name]) for inp in step.inputs}
    sharded = [inp.name for inp in step.inputs if inp.distribution == SHARDED]
    count = worker_count((len(listed[name]) for name in sharded), instances)
    if count == 1:
        return [Worker(0, folder, listed, folder / "logs" / "output.log")]
    shares = {name: shard(listed[name], count) for name in sharded}
    return [
        Worker(
            index=i,
            root=folder / WORKERS_DIR / str(i),
            files={name: shares[name][i] if name in shares else files for name, files in listed.items()},
            log=folder / "logs" / f"output-{i}.log",
        )
        for i in range(count)
    ]
