"""`sagespec local run --processing-instances N`: sharded inputs split across N worker processes, whose
outputs are the same as one worker's."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sagespec.local.artifacts import relative_files
from sagespec.local.process import Job, dropped_row_lines, run_parallel
from sagespec.local.shards import plan_workers, shard, worker_count
from sagespec.plan import PREPARE_STEP, PREPROCESS_STEP, Step, StepInput

DATA_STEPS = f"{PREPARE_STEP},{PREPROCESS_STEP}"
file_names = st.lists(st.from_regex(r"[a-z0-9_/-]{1,12}\.csv", fullmatch=True), unique=True, max_size=40)


# ------------------------------------------------------------------------------------ the assignment
@given(files=file_names, instances=st.integers(min_value=1, max_value=12))
def test_every_file_goes_to_exactly_one_worker_and_no_worker_is_empty(files, instances):
    workers = worker_count([len(files)], instances)
    shares = shard(files, workers)
    assert 1 <= len(shares) == workers <= instances
    assert sorted(f for share in shares for f in share) == sorted(files)
    if files:
        assert all(shares)
    ordered = sorted(files)
    for i, share in enumerate(shares):  # worker i: files i, i+N, i+2N, ... of the sorted paths
        assert share == [ordered[j] for j in range(i, len(ordered), workers)]


@pytest.mark.parametrize(
    ("counts", "instances", "expected"),
    [([5], 3, 3), ([2], 8, 2), ([0], 4, 1), ([], 4, 1), ([1, 6], 4, 4), ([9], 1, 1)],
)
def test_worker_count(counts, instances, expected):
    assert worker_count(counts, instances) == expected
    with pytest.raises(ValueError):
        worker_count(counts, 0)


def test_replicated_inputs_go_whole_to_every_worker(tmp_path):
    rows, counts = tmp_path / "rows", tmp_path / "counts"
    for name in ("b.parquet", "a.parquet", "sub/c.parquet"):
        (rows / name).parent.mkdir(parents=True, exist_ok=True)
        (rows / name).write_text(name)
    counts.mkdir()
    for name in ("a.json", "b.json"):
        (counts / name).write_text("{}")
    step = Step(
        name="S",
        kind="processing",
        inputs=(
            StepInput("rows", "step:X/rows", "/opt/ml/processing/input/rows", "ShardedByS3Key"),
            StepInput("counts", "step:X/counts", "/opt/ml/processing/input/counts"),
        ),
    )
    folder = tmp_path / "step"
    sources = {"rows": rows, "counts": counts}
    workers = plan_workers(step, sources, 2, folder)
    assert [w.files["rows"] for w in workers] == [["a.parquet", "sub/c.parquet"], ["b.parquet"]]
    assert all(w.files["counts"] == ["a.json", "b.json"] for w in workers)
    assert [w.log.name for w in workers] == ["output-0.log", "output-1.log"]
    workers[0].place_inputs(step, sources)
    placed = folder / "workers" / "0" / "processing" / "input"
    assert relative_files(placed / "rows") == ["a.parquet", "sub/c.parquet"]
    assert relative_files(placed / "counts") == ["a.json", "b.json"]
    # One worker keeps the single-instance layout: the step's own input folders and logs/output.log.
    (single,) = plan_workers(step, sources, 1, folder)
    assert single.root == folder and single.log == folder / "logs" / "output.log"


def test_dropped_rows_of_several_workers_are_summed(tmp_path):
    logs = [tmp_path / "output-0.log", tmp_path / "output-1.log"]
    logs[0].write_text("read 9 rows\ndropped 2 rows with no text in 'Review Text'\n")
    logs[1].write_text(
        "dropped 1 row with no label in 'Rating'\ndropped 3 rows with no text in 'Review Text'\n"
    )
    assert dropped_row_lines(logs) == [
        "dropped 5 rows with no text in 'Review Text'",
        "dropped 1 row with no label in 'Rating'",
    ]


def test_the_first_failing_worker_stops_the_others(tmp_path):
    slow = [sys.executable, "-c", "import time; time.sleep(30)"]
    failing = [sys.executable, "-c", "import sys; print('worker broke', file=sys.stderr); sys.exit(3)"]
    jobs = [Job(slow, tmp_path / "0.log"), Job(failing, tmp_path / "1.log"), Job(slow, tmp_path / "2.log")]
    completed, failed = run_parallel(jobs, cwd=tmp_path, env={})
    assert failed == 1 and completed[1].returncode == 3 and "worker broke" in completed[1].stderr
    assert completed[0].returncode != 0 and completed[2].returncode != 0  # stopped, not left running
    ok, none = run_parallel(
        [Job([sys.executable, "-c", "print(1)"], tmp_path / "ok.log")], cwd=tmp_path, env={}
    )
    assert none is None and ok[0].stdout == "1\n"


# ------------------------------------------------------------------------------------ on a project
@pytest.fixture(scope="module")
def data_project(tmp_path_factory, sample_csv, helpers):
    """The BlazingText example generated, with the sample split into 5 files (two in a subfolder)."""
    import pandas as pd

    workdir = tmp_path_factory.mktemp("shards")
    project = helpers.make_project(workdir, helpers.blazingtext_spec(), sample_csv)
    frame = pd.read_csv(sample_csv, index_col=0)
    data = workdir / "parts"
    for i in range(5):
        folder = data / "more" if i % 2 else data
        folder.mkdir(parents=True, exist_ok=True)
        frame.iloc[i::5].to_csv(folder / f"part{i}.csv")
    return project, data


def _outputs(run: Path, step: str) -> dict[str, bytes]:
    root = run / step / "processing" / "output"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _record(run: Path, step: str) -> dict:
    return json.loads((run / step / "step.json").read_text())


def test_n_workers_write_the_same_outputs_as_one(data_project, helpers, tmp_path):
    source, data = data_project
    one = helpers.copy_project(source, tmp_path / "one")
    three = helpers.copy_project(source, tmp_path / "three")
    base = ["--data", str(data), "--steps", DATA_STEPS, "--no-cache", "-q"]
    single = helpers.run_cli(["local", "run", str(one), *base])
    assert single.code == 0, single.text
    several = helpers.run_cli(["local", "run", str(three), *base, "--processing-instances", "3"])
    assert several.code == 0, several.text
    run_one, run_three = helpers.latest_run(one), helpers.latest_run(three)
    for step in (PREPARE_STEP, PREPROCESS_STEP):
        assert _outputs(run_three, step) == _outputs(run_one, step), step
        assert _outputs(run_one, step)
        # N is not part of the key: the outputs do not depend on it.
        assert _record(run_three, step)["key"] == _record(run_one, step)["key"]
        assert _record(run_one, step)["details"]["workers"] == 1
        assert (run_one / step / "logs" / "output.log").is_file()
    assert _record(run_three, PREPARE_STEP)["details"]["workers"] == 3
    assert sorted(p.name for p in (run_three / PREPARE_STEP / "logs").iterdir()) == [
        f"output-{i}.log" for i in range(3)
    ]
    assert f"{PREPARE_STEP} (processing: prepare.py, 3 workers)" in several.out
    # The dropped rows are summed over the workers' logs: the same summary line as one worker's.
    dropped = [line for line in single.out.splitlines() if line.startswith("data: dropped")]
    assert dropped and dropped == [
        line for line in several.out.splitlines() if line.startswith("data: dropped")
    ]


def test_fewer_files_than_instances_runs_as_many_workers_as_files(
    data_project, helpers, tmp_path, sample_csv
):
    source, _ = data_project
    project = helpers.copy_project(source, tmp_path / "proj")
    result = helpers.run_cli(
        ["local", "run", str(project), "--steps", PREPARE_STEP, "--processing-instances", "4", "-q"]
    )
    assert result.code == 0, result.text
    assert _record(helpers.latest_run(project), PREPARE_STEP)["details"]["workers"] == 1  # one data file


def test_a_failing_worker_fails_the_step_with_its_message(data_project, helpers, tmp_path):
    source, data = data_project
    project = helpers.copy_project(source, tmp_path / "proj")
    script = next(project.glob("pipelines/*/prepare.py"))
    script.write_text(
        "import sys\nfrom pathlib import Path\n"
        "names = [p.name for p in Path(sys.argv[sys.argv.index('--input-dir') + 1]).rglob('*.csv')]\n"
        "if 'part0.csv' in names:\n"
        "    print('part0.csv has no label column', file=sys.stderr)\n"
        "    sys.exit(2)\n"
    )
    argv = ["local", "run", str(project), "--data", str(data), "--steps", PREPARE_STEP, "-q"]
    result = helpers.run_cli([*argv, "--processing-instances", "3"])
    assert result.code == 2
    # part0.csv is the third of the sorted paths (more/part1.csv, more/part3.csv, part0.csv, ...).
    assert f"{PREPARE_STEP} (worker 2 of 3): part0.csv has no label column" in result.err
    assert _record(helpers.latest_run(project), PREPARE_STEP)["status"] == "failed"


def test_processing_instances_must_be_positive(data_project, helpers):
    with pytest.raises(SystemExit) as exit_info:  # argparse's usage error
        helpers.run_cli(["local", "run", ".", "--processing-instances", "0"])
    assert exit_info.value.code == 2
    from sagespec.errors import SagespecError
    from sagespec.local.runner import Runner
    from sagespec.local.runs import RunOptions

    with pytest.raises(SagespecError, match="at least 1") as error:
        Runner(RunOptions(project_dir=data_project[0], processing_instances=0))
    assert error.value.exit_code == 2
