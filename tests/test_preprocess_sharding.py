"""The generated project's data steps (template/pipelines/__pkg__/prepare.py, then preprocess.py) give the
same train / validation / test splits however the data is cut into files, chunks and instances: what makes
scaling PrepareData and PreprocessData out over N processing instances (ShardedByS3Key) safe.

Each instance of a step is simulated as SageMaker runs it: its own share of the input files, every instance
writing into the same output folders.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sagespec.project_modules import import_file

PACKAGE = Path(__file__).resolve().parents[1] / "template" / "pipelines" / "__pkg__"
REVIEWS = Path(__file__).resolve().parents[1] / "data" / "womens_clothing_ecommerce_reviews.csv"
MAPPING = {"1": "-1", "2": "-1", "3": "0", "4": "1", "5": "1"}
RATIOS = {"train": 0.8, "validation": 0.1, "test": 0.1}


@pytest.fixture(scope="module")
def scripts() -> Iterator[tuple[ModuleType, ModuleType]]:
    # preprocess.py imports prepare.py and the format writers as modules beside it, as in its container.
    sys.path.insert(0, str(PACKAGE))
    try:
        prepare = importlib.import_module("prepare")  # the module preprocess.py's own import finds
        yield prepare, import_file(PACKAGE / "preprocess.py", "_preprocess")
    finally:
        sys.path.remove(str(PACKAGE))


def run_steps(
    scripts: tuple[ModuleType, ModuleType],
    files: list[pd.DataFrame],
    work: Path,
    *,
    instances: int,
    chunk_rows: int,
    balance: str = "none",
    max_rows: int | None = None,
) -> dict[str, pd.DataFrame]:
    """Both steps over ``files``, each on ``instances`` instances; the splits read back (text, label)."""
    prepare, preprocess = scripts
    raw = work / "raw"
    raw.mkdir(parents=True)
    for number, frame in enumerate(files):
        frame.to_csv(raw / f"part{number:03d}.csv", index=False)
    prepared, output = work / "prepared", work / "output"

    def shares(folder: Path) -> list[Path]:
        """Each instance's input folder, holding its share of ``folder``'s files (ShardedByS3Key)."""
        paths = sorted(p for p in folder.iterdir() if p.is_file())
        folders = []
        # As SageMaker does, with more instances than files some instances get none (and do nothing).
        for instance in range(instances):
            share = work / f"{folder.name}-instance{instance}"
            share.mkdir()
            for path in paths[instance::instances]:
                (share / path.name).symlink_to(path)
            folders.append(share)
        return folders

    for share in shares(raw):
        args = prepare.parse_args(
            [
                "--input-dir",
                str(share),
                "--output-dir",
                str(prepared),
                "--text-column",
                "text",
                "--label-column",
                "stars",
                "--label-mapping",
                json.dumps(MAPPING),
                "--facet-columns",
                '["facet"]',
                "--seed",
                "11",
                "--chunk-rows",
                str(chunk_rows),
            ]  # fmt: skip
        )
        prepare.run(args)
    for share in shares(prepared / "rows"):
        options = ["--input-dir", str(share), "--counts-dir", str(prepared / "counts")]
        options += ["--output-dir", str(output), "--balance", balance]
        options += ["--max-rows", str(max_rows)] if max_rows else []
        preprocess.run(preprocess.parse_args(options))
    splits = {}
    for name in RATIOS:
        parts = sorted((output / name).glob(f"{name}-*.txt"))
        lines = [line for path in parts for line in path.read_text(encoding="utf-8").splitlines()]
        label_and_text = [line.partition(" ") for line in lines]
        splits[name] = pd.DataFrame(
            {
                "label": [label for label, _, _ in label_and_text],
                "text": [text for _, _, text in label_and_text],
            }
        )
    bias = [pd.read_csv(p, header=None, dtype=str) for p in sorted((output / "bias").glob("bias-*.csv"))]
    splits["bias"] = pd.concat(bias, ignore_index=True)
    return splits


def as_multisets(splits: dict[str, pd.DataFrame]) -> dict[str, Counter[str]]:
    return {name: Counter(splits[name]["text"]) for name in RATIOS}


# A row: one of a few texts (so some repeat), a star rating (or none), a facet value (a number or none:
# read without care, a chunk with a gap would make it 30.0 and a chunk without one 30).
ROWS = st.lists(
    st.tuples(
        st.sampled_from([f'review {n} é, &amp; "quoted"\nline' for n in range(40)] + ["", "  "]),
        st.sampled_from(["1", "2", "3", "4", "5", ""]),
        st.sampled_from(["30", "41", ""]),
    ),
    min_size=30,
    max_size=150,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=ROWS,
    cuts=st.lists(st.integers(0, 150), max_size=4),
    instances=st.integers(1, 6),
    chunk_rows=st.integers(7, 200),
    balance=st.sampled_from(["none", "downsample"]),
)
def test_the_splits_do_not_depend_on_files_chunks_or_instances(
    scripts: tuple[ModuleType, ModuleType],
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[str, str, str]],
    cuts: list[int],
    instances: int,
    chunk_rows: int,
    balance: str,
) -> None:
    frame = pd.DataFrame(rows, columns=["text", "stars", "facet"])
    labelled = frame[(frame["text"].str.strip() != "") & (frame["stars"] != "")]
    if labelled["stars"].map(MAPPING).nunique() < 2:
        event("a single class")
        return  # refused (tested in the generated project's tests)
    borders = sorted({0, len(frame), *(c for c in cuts if c < len(frame))})
    files = [frame.iloc[a:b] for a, b in zip(borders, borders[1:], strict=False)]
    try:
        one = run_steps(
            scripts, [frame], tmp_path_factory.mktemp("one"), instances=1, chunk_rows=10_000, balance=balance
        )
    except scripts[0].InputError as err:
        assert "split is empty" in str(err)
        event("too few distinct rows for three splits")
        return
    many = run_steps(
        scripts,
        files,
        tmp_path_factory.mktemp("many"),
        instances=instances,
        chunk_rows=chunk_rows,
        balance=balance,
    )
    assert as_multisets(one) == as_multisets(many)
    assert {name: Counter(one[name]["label"]) for name in RATIOS} == {
        name: Counter(many[name]["label"]) for name in RATIOS
    }
    # Every kept row is in exactly one split, and equal rows (text and class) share one.
    sets = [set(zip(many[name]["text"], many[name]["label"], strict=True)) for name in RATIOS]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    kept = sum(len(many[name]) for name in RATIOS)
    assert len(many["bias"]) == kept
    bias_rows = [Counter(map(tuple, run["bias"].fillna("").to_numpy().tolist())) for run in (one, many)]
    assert bias_rows[0] == bias_rows[1]
    if balance == "none":
        assert kept == len(labelled)


@pytest.mark.parametrize("balance", ["none", "downsample"])
def test_ratios_and_class_balance_hold_on_the_reviews_at_any_instance_count(
    scripts: tuple[ModuleType, ModuleType], tmp_path: Path, balance: str
) -> None:
    reviews = pd.read_csv(REVIEWS, dtype={"Rating": str}, index_col=0)
    frame = reviews.rename(columns={"Review Text": "text", "Rating": "stars", "Class Name": "facet"})
    frame = frame[["text", "stars", "facet"]]
    files = [frame.iloc[i::5] for i in range(5)]
    results = [
        run_steps(scripts, files, tmp_path / f"x{n}", instances=n, chunk_rows=3000, balance=balance)
        for n in (1, 2, 4)
    ]
    assert as_multisets(results[0]) == as_multisets(results[1]) == as_multisets(results[2])
    splits = results[0]
    kept = sum(len(splits[name]) for name in RATIOS)
    for name, ratio in RATIOS.items():
        assert abs(len(splits[name]) / kept - ratio) < 0.01, name
        shares = splits[name]["label"].value_counts(normalize=True)
        overall = pd.concat([splits[n]["label"] for n in RATIOS]).value_counts(normalize=True)
        assert (shares - overall).abs().max() < 0.01, (name, shares, overall)
    if balance == "downsample":
        per_class = pd.concat([splits[n]["label"] for n in RATIOS]).value_counts()
        assert per_class.max() - per_class.min() <= 0.01 * per_class.min()
    # The training file is shuffled: fastText reads it in order, and a file that ends class by class
    # teaches it the last class (the thresholds are key ranges, so key order would do just that).
    labels = splits["train"]["label"]
    quarter = len(labels) // 4
    head, tail = (
        labels.iloc[:quarter].value_counts(normalize=True),
        labels.iloc[-quarter:].value_counts(normalize=True),
    )
    assert (head - tail).abs().max() < 0.05, (head, tail)
