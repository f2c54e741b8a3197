"""The labeling page's predictions from a BlazingText model.bin: classes decoded from the training format;
the test split they score, read from all of PreprocessData's CSV parts."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagespec.label.scoring import fasttext_predictor, find_test_split, latest_run, read_test_split
from sagespec.local import cache
from sagespec.local.runs import runs_root
from sagespec.plan import PREPROCESS_STEP


def test_classes_with_spaces_come_back_decoded(tmp_path):
    fasttext = pytest.importorskip("fasttext")
    # blazingtext_format.py writes "very bad" as __label__very%20bad (fastText splits at white space).
    lines = [f"__label__{'very%20bad' if i % 2 else '100%25%20good'} word{i % 2} text" for i in range(60)]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    model = fasttext.train_supervised(
        str(tmp_path / "train.txt"), epoch=20, lr=1.0, dim=8, bucket=1000, thread=1, verbose=0
    )
    model.save_model(str(tmp_path / "model.bin"))
    predict = fasttext_predictor(tmp_path, lambda text: text)
    [answer] = predict(["word1 text"])
    assert answer["label"] == "very bad"
    assert set(answer["probabilities"]) == {"very bad", "100% good"}


# ---------------------------------------------------------------------------------------------- test split
# PreprocessData writes the test split as CSV parts, test/test-<part>.csv, each with its own header.


def _run_with_test_split(runs: Path, run_id: str, files: dict[str, list[tuple[str, str]]]) -> Path:
    run_dir = runs / run_id
    test_dir = run_dir / PREPROCESS_STEP / "output" / "test"
    test_dir.mkdir(parents=True)
    for name, rows in files.items():
        with (test_dir / name).open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(rows)
    (test_dir / "labels.json").write_text('{"classes": ["a", "b"]}')
    cache.write_record(run_dir / PREPROCESS_STEP, {"status": "done", "outputs": {"test": str(test_dir)}})
    return run_dir


TEXTS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1)
ROWS = st.lists(st.tuples(TEXTS.filter(str.strip), st.sampled_from(["a", "b"])), max_size=6)


@settings(max_examples=30, deadline=None)
@given(parts=st.lists(ROWS, min_size=1, max_size=4))
def test_every_part_of_the_test_split_is_scored_in_name_order(tmp_path_factory, parts):
    runs = tmp_path_factory.mktemp("runs")
    # Parts named by their source files, not numbered: the order is the names' (as S3 lists them).
    names = [f"test-{chr(ord('a') + i)}{9 - i}-00000.csv" for i in range(len(parts))]
    run_dir = _run_with_test_split(runs, "20260101-000000", dict(zip(names, parts, strict=True)))
    found = find_test_split(run_dir)
    assert [p.name for p in found] == names
    assert read_test_split(found) == [row for part in parts for row in part]


def test_a_run_of_an_earlier_project_with_one_test_csv_is_still_found(tmp_path):
    runs = runs_root(tmp_path)
    older = _run_with_test_split(runs, "20260101-000000", {"test.csv": [("fine", "a")]})
    newer = _run_with_test_split(runs, "20260102-000000", {"test-x-00000.csv": [("good", "b")]})
    (newer / PREPROCESS_STEP / cache.RECORD_FILE).unlink()  # PreprocessData did not finish: no test split
    assert latest_run(tmp_path) == older
    assert read_test_split(find_test_split(older)) == [("fine", "a")]
