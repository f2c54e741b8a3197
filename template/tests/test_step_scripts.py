"""The step scripts (pipelines/<pkg>/prepare.py, preprocess.py, evaluate.py, train.py), run as SageMaker
runs them: as subprocesses with command-line arguments, on a small sample of the data in data/.

The BlazingText path needs pandas, scikit-learn, matplotlib and fasttext-wheel. The TensorFlow path
(tfrecord preprocessing, train.py, BERT evaluation) runs only where tensorflow and transformers are
installed, and uses a tiny BERT built here (2 layers, hidden size 32, a WordPiece vocabulary trained on the
sample), so nothing is downloaded.
"""

from __future__ import annotations

import ast
import html
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
_PREPROCESS_SCRIPTS = sorted(ROOT.glob("pipelines/*/preprocess.py"))
SCRIPTS = _PREPROCESS_SCRIPTS[0].parent if _PREPROCESS_SCRIPTS else ROOT / "pipelines"
DATA_FILES = sorted((ROOT / "data").glob("*.csv"))
# The training format of the project's model: preprocess.py writes it with the module of that name, which
# a project has only when its model reads that format.
HAS_BLAZINGTEXT_FORMAT = (SCRIPTS / "blazingtext_format.py").is_file()
# BERT trained with PyTorch reads token arrays; with TensorFlow, TFRecords.
TRAINS_WITH_PYTORCH = (SCRIPTS / "token_arrays_format.py").is_file()
OUTPUT_FORMAT = (
    "blazingtext" if HAS_BLAZINGTEXT_FORMAT else "token-arrays" if TRAINS_WITH_PYTORCH else "tfrecord"
)
# A bad input ends preprocess.py before it loads the tokenizer: the tests of bad inputs never need one.
UNLOADED_TOKENIZER = "tokenizer-not-loaded"
MAX_ROWS = 600
MAX_SEQ_LENGTH = 32
# The metric definitions of the training job parse these out of train.py's log.
METRIC_PATTERNS = {
    name: re.compile(rf"{re.escape(name)}=([0-9.eE+-]+|nan|inf)")
    for name in ("train:loss", "train:accuracy", "validation:loss", "validation:accuracy")
}
# The options of prepare.py that describe the data set (the rest are set by each test).
DATASET_OPTIONS = ("--text-column", "--label-column", "--label-mapping", "--facet-columns", "--group-column")
# The data set of the example specs (Women's E-Commerce Clothing Reviews), if the pipeline does not say.
REVIEWS_DATASET = {
    "--text-column": "Review Text",
    "--label-column": "Rating",
    "--label-mapping": json.dumps({"1": "-1", "2": "-1", "3": "0", "4": "1", "5": "1"}),
    "--facet-columns": json.dumps(["Class Name"]),
}

pytestmark = [
    pytest.mark.skipif(not (SCRIPTS / "preprocess.py").is_file(), reason="no pipelines/*/preprocess.py"),
    pytest.mark.skipif(not DATA_FILES, reason="no data/*.csv"),
]


# ---------------------------------------------------------------------------------------------- helpers


def dataset_options() -> dict[str, str]:
    """The data set options the generated pipeline passes to prepare.py (its PREPARE_ARGUMENTS), read from
    the source of settings.py beside the scripts."""
    settings = SCRIPTS / "settings.py"
    if not settings.is_file():
        return dict(REVIEWS_DATASET)
    for node in ast.walk(ast.parse(settings.read_text(encoding="utf-8"))):
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "PREPARE_ARGUMENTS" and node.value is not None:
            arguments = ast.literal_eval(node.value)
            pairs = dict(zip(arguments[::2], arguments[1::2], strict=True))
            return {option: pairs[option] for option in DATASET_OPTIONS if option in pairs}
    return dict(REVIEWS_DATASET)


# prepare.py's options; every other option of preprocess_arguments() is preprocess.py's.
PREPARE_OPTIONS = {"--input-dir", "--input-file", "--seed", "--record-identifier", "--chunk-rows"}


def preprocess_arguments(output_dir: Path, **overrides: str) -> dict[str, str]:
    """The options of both data steps (prepare.py, then preprocess.py), for run_preprocessing."""
    options = {
        "--input-dir": str(DATA_FILES[0].parent),
        "--input-file": DATA_FILES[0].name,
        "--output-dir": str(output_dir),
        **dataset_options(),
        "--train-ratio": "0.8",
        "--validation-ratio": "0.1",
        "--test-ratio": "0.1",
        "--balance": "none",
        "--seed": "7",
        # Several row parts, so every step downstream reads a split made of parts, as at scale.
        "--chunk-rows": "5000",
        "--max-rows": str(MAX_ROWS),
        "--output-format": OUTPUT_FORMAT,
    }
    if OUTPUT_FORMAT != "blazingtext":
        options["--tokenizer"] = UNLOADED_TOKENIZER
    options |= {f"--{name.replace('_', '-')}": value for name, value in overrides.items()}
    return options


def run_preprocessing(options: dict[str, str], *, expect: int = 0) -> subprocess.CompletedProcess[str]:
    """prepare.py into <output-dir>-prepared, then preprocess.py from there into --output-dir, as the
    pipeline's PrepareData and PreprocessData steps run them. The first that fails is returned; else the
    two runs' output together."""
    output_dir = Path(options["--output-dir"])
    prepared = output_dir.with_name(output_dir.name + "-prepared")
    is_prepare = PREPARE_OPTIONS | set(DATASET_OPTIONS)
    prepare = {"--output-dir": str(prepared)} | {k: v for k, v in options.items() if k in is_prepare}
    preprocess = {k: v for k, v in options.items() if k not in is_prepare}
    preprocess |= {"--input-dir": str(prepared / "rows"), "--counts-dir": str(prepared / "counts")}
    first = run_script("prepare.py", _flat(prepare), expect=expect, allow_success=expect != 0)
    if first.returncode != 0:
        return first
    second = run_script("preprocess.py", _flat(preprocess), expect=expect)
    return subprocess.CompletedProcess(
        second.args, second.returncode, first.stdout + second.stdout, first.stderr + second.stderr
    )


def _flat(options: dict[str, str]) -> list[str]:
    return [part for option, value in options.items() for part in (option, value)]


def split_files(split_dir: Path, suffix: str) -> list[Path]:
    """The parts of one split in one format, in the order readers take them."""
    return sorted(split_dir.glob(f"{split_dir.name}-*{suffix}"))


def read_split_table(split_dir: Path) -> pd.DataFrame:
    parts = split_files(split_dir, ".csv")
    assert parts, f"no {split_dir.name}-*.csv in {split_dir}"
    return pd.concat(
        [pd.read_csv(path, dtype=str, keep_default_na=False) for path in parts], ignore_index=True
    )


def step_environment(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONUNBUFFERED="1",
        HF_HUB_OFFLINE="1",  # never reach the model hub from a test
        TRANSFORMERS_OFFLINE="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        MPLBACKEND="Agg",
        CUDA_VISIBLE_DEVICES=os.environ.get("CUDA_VISIBLE_DEVICES", "-1"),  # small and deterministic on CPU
    )
    env.update(extra)
    return env


def run_script(
    script: str,
    arguments: list[str],
    *,
    expect: int = 0,
    env: dict[str, str] | None = None,
    allow_success: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run a step script; it must exit with ``expect`` (or 0 too, with ``allow_success``)."""
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / script), *arguments],
        capture_output=True,
        text=True,
        env=env or step_environment(),
        timeout=600,
        check=False,
    )
    assert result.returncode == expect or (allow_success and result.returncode == 0), (
        f"{script} exited with {result.returncode}, expected {expect}\n"
        f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
    )
    return result


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    message = result.stderr.strip()
    assert "Traceback" not in message, message
    assert len(message.splitlines()) == 1, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def make_model_tarball(source_dir: Path, tarball: Path) -> Path:
    """model.tar.gz with source_dir's contents at its root, as SageMaker packs /opt/ml/model."""
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball, "w:gz") as tar:
        for path in sorted(source_dir.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(source_dir)), recursive=False)
    return tarball


def read_classes(split_dir: Path) -> list[str]:
    return json.loads((split_dir / "labels.json").read_text(encoding="utf-8"))["classes"]


def assert_evaluation_report(output_dir: Path, classes: list[str], test_count: int) -> dict[str, Any]:
    report = json.loads((output_dir / "evaluation.json").read_text(encoding="utf-8"))
    assert set(report["metrics"]) == {"accuracy", "macro_f1", "weighted_f1"}
    for metric in report["metrics"].values():
        assert 0.0 <= metric["value"] <= 1.0
    assert list(report["per_class"]) == classes
    assert sum(c["support"] for c in report["per_class"].values()) == test_count
    assert set(next(iter(report["per_class"].values()))) == {"precision", "recall", "f1", "support"}
    matrix = report["confusion_matrix"]
    assert matrix["labels"] == classes
    assert len(matrix["matrix"]) == len(classes) and all(len(row) == len(classes) for row in matrix["matrix"])
    assert sum(map(sum, matrix["matrix"])) == test_count
    assert (output_dir / "confusion_matrix.png").read_bytes().startswith(b"\x89PNG")
    return report


# ---------------------------------------------------------------------------------------------- BlazingText


@pytest.fixture(scope="module")
def blazingtext_splits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not HAS_BLAZINGTEXT_FORMAT:
        pytest.skip("this project's model reads no BlazingText lines: no blazingtext_format.py")
    output_dir = tmp_path_factory.mktemp("blazingtext") / "output"
    result = run_preprocessing(preprocess_arguments(output_dir))
    assert "train:" in result.stdout and "test:" in result.stdout  # counts per split
    return output_dir


def test_preprocess_blazingtext_layout_and_format(blazingtext_splits: Path) -> None:
    options = dataset_options()
    mapping = json.loads(options["--label-mapping"])
    classes = list(dict.fromkeys(str(label) for label in mapping.values()))
    counts = {}
    for split in ("train", "validation", "test"):
        split_dir = blazingtext_splits / split
        parts = split_files(split_dir, ".txt")
        lines = [line for path in parts for line in path.read_text(encoding="utf-8").splitlines()]
        # White space and '%' in a class are percent-encoded in BlazingText's format.
        labels = [unquote(line.split(" ", 1)[0].removeprefix("__label__")) for line in lines]
        if split == "test":
            assert read_classes(split_dir) == classes
            table = read_split_table(split_dir)
            assert list(table.columns) == ["text", "label"]
            assert labels == table["label"].tolist()
        else:
            # BlazingText reads whole channels: nothing but the training lines may be there.
            assert sorted(split_dir.iterdir()) == parts
        assert len(lines) > 0
        counts[split] = len(lines)
        for line in lines:
            assert line.startswith("__label__"), line
            tokens = line.split(" ")[1:]
            assert all(tokens), f"empty token in {line!r}"
            body = " ".join(tokens)
            assert body == body.lower() and "&#39;" not in body and "&quot;" not in body, body
        assert set(labels) <= set(classes)
    # The sample's size is exact up to a row or two per class: thresholds fall between key buckets.
    assert abs(sum(counts.values()) - MAX_ROWS) <= 2 * len(classes)
    assert counts["train"] > counts["validation"] > 0 and counts["test"] > 0

    # Clarify reads the bias parts as one headerless table; the pipeline gives it the column names.
    facets = json.loads(options["--facet-columns"])
    group = options.get("--group-column")
    columns = ["label", *dict.fromkeys([*facets, *([group] if group else [])])]
    parts = sorted((blazingtext_splits / "bias").glob("bias-*.csv"))
    bias = pd.concat([pd.read_csv(p, dtype=str, header=None, names=columns) for p in parts])
    assert len(bias) == sum(counts.values()) and set(bias["label"]) <= set(classes)


def load_script(name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A step script imported as a module (it runs as a script in its container, where the modules beside
    it are importable)."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(f"step_{name}", SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def load_blazingtext_format(monkeypatch: pytest.MonkeyPatch) -> Any:
    if not HAS_BLAZINGTEXT_FORMAT:
        pytest.skip("this project's model reads no BlazingText lines: no blazingtext_format.py")
    return load_script("blazingtext_format", monkeypatch)


def test_blazingtext_tokens_split_punctuation(monkeypatch: pytest.MonkeyPatch) -> None:
    blazingtext_format = load_blazingtext_format(monkeypatch)
    tokens = blazingtext_format.blazingtext_tokens("It wasn&#39;t  SO bad,\nreally!")
    assert tokens == "it wasn't so bad , really !"


def test_blazingtext_labels_with_spaces_and_markers_in_texts_round_trip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # fastText splits a line at white space and takes any token starting with __label__ as a class:
    # a class "very negative" or a review that says "__label__5" must not change what is learnt.
    fasttext = pytest.importorskip("fasttext")
    blazingtext_format = load_blazingtext_format(monkeypatch)
    classes = ["very negative", "100% positive", "so-so"]
    texts = [f"word{i % 3} review __label__5 __LABEL__{i % 3} text" for i in range(90)]
    labels = [classes[i % 3] for i in range(90)]
    train = tmp_path / "train.txt"
    blazingtext_format.write_blazingtext(train, texts, labels)
    for line in train.read_text(encoding="utf-8").splitlines():
        first, *rest = line.split()
        assert first.startswith("__label__") and not any(t.startswith("__label__") for t in rest), line
    model = fasttext.train_supervised(str(train), epoch=20, lr=1.0, dim=8, bucket=1000, thread=1, verbose=0)

    inference = load_script("inference", monkeypatch)
    assert sorted(blazingtext_format.class_of(label) for label in model.get_labels()) == sorted(classes)
    model_dir, test_dir = tmp_path / "model", tmp_path / "test"
    model_dir.mkdir()
    test_dir.mkdir()
    model.save_model(str(model_dir / "model.bin"))
    if (SCRIPTS / "predict_blazingtext.py").is_file():  # BlazingText's evaluation reads the lines back
        blazingtext_format.write_blazingtext(test_dir / "test.txt", texts[:9], labels[:9])
        predictions = load_script("predict_blazingtext", monkeypatch)
        truth, predicted = predictions.predict(model_dir, test_dir, classes)
        assert truth == labels[:9] and predicted == labels[:9]
    served = inference.model_fn(str(model_dir))
    assert sorted(served.classes) == sorted(classes)
    [answer] = inference.predict_fn(["word1 review __label__5 text"], served)
    assert answer["label"] == labels[1] and set(answer["probabilities"]) == set(classes)


def test_evaluate_blazingtext_model(blazingtext_splits: Path, tmp_path: Path) -> None:
    if not (SCRIPTS / "predict_blazingtext.py").is_file():
        pytest.skip("this project's model is not BlazingText: no predict_blazingtext.py")
    fasttext = pytest.importorskip("fasttext")
    # BlazingText reads every file of its channel; fastText takes one file.
    train_file = tmp_path / "train.txt"
    parts = split_files(blazingtext_splits / "train", ".txt")
    train_file.write_text("".join(path.read_text(encoding="utf-8") for path in parts), encoding="utf-8")
    model = fasttext.train_supervised(
        str(train_file),
        epoch=5,
        lr=0.5,
        dim=16,
        bucket=10_000,
        thread=1,
        verbose=0,
    )
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    model.save_model(str(artifact / "model.bin"))
    # BlazingText's artifact: model.tar.gz with model.bin at its root.
    make_model_tarball(artifact, tmp_path / "model" / "model.tar.gz")

    output_dir = tmp_path / "evaluation"
    arguments = ["--model-dir", str(tmp_path / "model"), "--test-dir", str(blazingtext_splits / "test")]
    result = run_script(
        "evaluate.py", [*arguments, "--output-dir", str(output_dir), "--model-type", "blazingtext"]
    )
    assert "accuracy=" in result.stdout
    test_dir = blazingtext_splits / "test"
    test_count = len(read_split_table(test_dir))
    assert_evaluation_report(output_dir, read_classes(test_dir), test_count)


# ---------------------------------------------------------------------------------------------- bad inputs


def test_preprocess_missing_column_exits_2(tmp_path: Path) -> None:
    result = run_preprocessing(preprocess_arguments(tmp_path / "out", text_column="No Such Column"), expect=2)
    assert_one_line_error(result, "'No Such Column'", "--text-column", DATA_FILES[0].name)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out-prepared").exists()


def test_preprocess_unmapped_label_exits_2(tmp_path: Path) -> None:
    options = dataset_options()
    label_column = options["--label-column"]
    mapping = json.loads(options["--label-mapping"])
    labels = pd.read_csv(DATA_FILES[0], usecols=[label_column], dtype=str)[label_column]
    present = [raw for raw in mapping if (labels == raw).any()]
    assert present, f"no value of --label-mapping occurs in {label_column!r}"
    removed = present[0]
    del mapping[removed]
    if len(set(mapping.values())) < 2:
        pytest.skip("the label mapping has too few entries to drop one")

    result = run_preprocessing(
        preprocess_arguments(tmp_path / "out", label_mapping=json.dumps(mapping)), expect=2
    )
    message = assert_one_line_error(result, repr(removed), repr(label_column), "rows")
    assert re.search(rf"{re.escape(repr(removed))} \(\d+ rows\)", message), message


def test_preprocess_without_data_files_exits_2(tmp_path: Path) -> None:
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    (input_dir / "notes.txt").write_text("not data", encoding="utf-8")
    arguments = preprocess_arguments(tmp_path / "out", input_dir=str(input_dir))
    del arguments["--input-file"]
    # PrepareData's instance had nothing to read (SageMaker gives an instance none when there are more
    # instances than files); PreprocessData then finds no counts from any instance.
    result = run_preprocessing(arguments, expect=2)
    assert_one_line_error(result, "PrepareData found no .csv or .parquet file")
    assert not (tmp_path / "out").exists()


def test_preprocess_unreadable_parquet_exits_2(tmp_path: Path) -> None:
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    (input_dir / "reviews.parquet").write_bytes(b"PAR1 this is not parquet")
    arguments = preprocess_arguments(tmp_path / "out", input_dir=str(input_dir), input_file="reviews.parquet")
    result = run_preprocessing(arguments, expect=2)
    assert_one_line_error(result, "reviews.parquet: cannot be read as Parquet")
    assert not (tmp_path / "out-prepared").exists()


def test_preprocess_bad_split_ratios_exit_2(tmp_path: Path) -> None:
    arguments = preprocess_arguments(tmp_path / "out", train_ratio="0.5")
    result = run_preprocessing(arguments, expect=2)
    assert "add up to 1" in result.stderr


def sample_input(tmp_path: Path, rows: int = 300) -> tuple[pd.DataFrame, Path]:
    """The first rows of the data set as a frame, and the folder preprocess.py is to read it from."""
    frame = pd.read_csv(DATA_FILES[0], nrows=rows, dtype=str, index_col=0)
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    return frame, input_dir


def test_preprocess_drops_rows_without_a_label_and_counts_them(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # The job runs to its end, so a BERT project's needs a tokenizer it can load.
    tokenizer = {} if HAS_BLAZINGTEXT_FORMAT else {"tokenizer": str(request.getfixturevalue("tiny_bert"))}
    frame, input_dir = sample_input(tmp_path)
    label_column = dataset_options()["--label-column"]
    frame.loc[frame.index[:7], label_column] = None
    frame.loc[frame.index[7:10], label_column] = "  "
    frame.to_csv(input_dir / "data.csv")
    arguments = preprocess_arguments(
        tmp_path / "out", input_dir=str(input_dir), input_file="data.csv", **tokenizer
    )
    result = run_preprocessing(arguments)
    assert f"dropped 10 rows with no label in {label_column!r}" in result.stdout


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("empty", "is empty: it has no header row"),
        ("header", "no rows with both text and a label"),
        ("one-class", "one class"),
    ],
)
def test_preprocess_data_with_nothing_to_learn_exits_2(tmp_path: Path, content: str, fragment: str) -> None:
    frame, input_dir = sample_input(tmp_path)
    path = input_dir / "data.csv"
    if content == "empty":
        path.write_text("", encoding="utf-8")
    elif content == "header":
        frame.head(0).to_csv(path)
    else:
        options = dataset_options()
        raw = next(iter(json.loads(options["--label-mapping"])))
        frame.assign(**{options["--label-column"]: raw}).to_csv(path)
    arguments = preprocess_arguments(tmp_path / "out", input_dir=str(input_dir), input_file="data.csv")
    result = run_preprocessing(arguments, expect=2)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "out").exists()


# -------------------------------------------------------------------------------------- TensorFlow / BERT


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BERT (hidden size 32) and a fast WordPiece tokenizer trained on the sample texts, with the
    weights of the framework this project trains with."""
    if TRAINS_WITH_PYTORCH:
        pytest.importorskip("torch")
    else:
        pytest.importorskip("tensorflow")
        pytest.importorskip("tf_keras")
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")

    text_column = dataset_options()["--text-column"]
    texts = pd.read_csv(DATA_FILES[0], usecols=[text_column], nrows=3000)[text_column].dropna().astype(str)
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wordpiece = tokenizers.Tokenizer(tokenizers.models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    wordpiece.train_from_iterator(
        texts.tolist(), tokenizers.trainers.WordPieceTrainer(vocab_size=1000, special_tokens=special)
    )
    cls_id, sep_id = wordpiece.token_to_id("[CLS]"), wordpiece.token_to_id("[SEP]")
    wordpiece.post_processor = tokenizers.processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=wordpiece,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    config = transformers.BertConfig(
        vocab_size=wordpiece.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer.save_pretrained(folder)
    if TRAINS_WITH_PYTORCH:
        transformers.BertModel(config).save_pretrained(folder)
    else:
        model = transformers.TFBertForSequenceClassification(config)
        model(model.dummy_inputs)  # create the weights
        model.save_pretrained(folder)
    # Pooled as sentence-transformers checkpoints say (all-MiniLM-L6-v2's mean of the tokens).
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    return folder


@pytest.fixture(scope="module")
def tfrecord_splits(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (SCRIPTS / "tfrecord_format.py").is_file():
        pytest.skip("this project's model reads no TFRecords: no tfrecord_format.py")
    output_dir = tmp_path_factory.mktemp("tfrecord") / "output"
    arguments = preprocess_arguments(
        output_dir, output_format="tfrecord", tokenizer=str(tiny_bert), max_seq_length=str(MAX_SEQ_LENGTH)
    )
    run_preprocessing(arguments)
    return output_dir


def test_preprocess_tfrecord_examples(tfrecord_splits: Path, tiny_bert: Path) -> None:
    import tensorflow as tf
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    classes = read_classes(tfrecord_splits / "train")
    features = {"input_ids": tf.io.RaggedFeature(tf.int64), "label": tf.io.FixedLenFeature([], tf.int64)}
    lengths = []
    for split in ("train", "validation", "test"):
        table = read_split_table(tfrecord_splits / split)
        parts = [str(path) for path in split_files(tfrecord_splits / split, ".tfrecord")]
        records = list(tf.data.TFRecordDataset(parts))
        assert len(records) == len(table) > 0
        for record, label in zip(records, table["label"], strict=True):
            example = tf.io.parse_single_example(record, features)
            input_ids = example["input_ids"].numpy().tolist()
            assert input_ids[0] == tokenizer.cls_token_id and input_ids[-1] == tokenizer.sep_token_id
            assert tokenizer.pad_token_id not in input_ids  # unpadded
            assert classes[int(example["label"])] == label
            lengths.append(len(input_ids))
    assert max(lengths) == MAX_SEQ_LENGTH and min(lengths) < MAX_SEQ_LENGTH  # truncated, not padded


def train_environment(splits: Path, work: Path) -> dict[str, str]:
    return step_environment(
        SM_MODEL_DIR=str(work / "model"),
        SM_CHANNEL_TRAIN=str(splits / "train"),
        SM_CHANNEL_VALIDATION=str(splits / "validation"),
        SM_OUTPUT_DATA_DIR=str(work / "output" / "data"),
        SM_HOSTS=json.dumps(["algo-1"]),
        SM_CURRENT_HOST="algo-1",
        SM_NUM_GPUS="0",
    )


def train_arguments(tiny_bert: Path, checkpoint_dir: Path, epochs: int) -> list[str]:
    hyperparameters = {
        "epochs": epochs,
        "learning_rate": 0.001,
        "batch_size": 32,
        "max_seq_length": MAX_SEQ_LENGTH,
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
        "early_stopping_patience": 0,
        "freeze_encoder": "false",
        "seed": 3,
        "pretrained_model": str(tiny_bert),
        "mixed_precision": "auto",
        "xla": "false",
        "checkpoint_dir": str(checkpoint_dir),
    }
    return [part for name, value in hyperparameters.items() for part in (f"--{name}", str(value))]


def epoch_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("epoch=")]


@dataclass(frozen=True)
class BertTraining:
    first: subprocess.CompletedProcess[str]  # epoch 1
    second: subprocess.CompletedProcess[str]  # the same job restarted: epoch 2, from the first's checkpoint
    other: subprocess.CompletedProcess[str]  # another job (tuning trial, execution) on the same checkpoints
    checkpoint_dir: Path
    model_dir: Path  # the second job's export (SM_MODEL_DIR)


@pytest.fixture(scope="module")
def bert_training(
    tfrecord_splits: Path, tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory
) -> BertTraining:
    """Two epochs in two runs of one training job (as after a spot interruption: SageMaker restarts the
    job under its name), then another job that shares the checkpoint folder, as tuning trials do."""
    if not (SCRIPTS / "train.py").is_file():
        pytest.skip("this project trains with a built-in algorithm: no train.py")
    work = tmp_path_factory.mktemp("bert-training")
    checkpoint_dir = work / "checkpoints"
    first, second, other = (
        run_script(
            "train.py",
            train_arguments(tiny_bert, checkpoint_dir, epochs=epochs),
            env=train_environment(tfrecord_splits, work / folder) | {"TRAINING_JOB_NAME": job_name},
        )
        for folder, job_name, epochs in (
            ("run1", "spot-job", 1),
            ("run2", "spot-job", 2),
            ("run3", "trial", 1),
        )
    )
    return BertTraining(first, second, other, checkpoint_dir, work / "run2" / "model")


def test_train_resumes_from_checkpoint_then_evaluate(
    bert_training: BertTraining, tfrecord_splits: Path, tmp_path: Path
) -> None:
    lines = epoch_lines(bert_training.first.stdout)
    assert [line.split(" ")[0] for line in lines] == ["epoch=1"], bert_training.first.stdout
    # Mean pooling leaves the encoder's pooler out of training, so every trained variable gets a gradient.
    assert "Gradients do not exist" not in bert_training.first.stderr
    for name, pattern in METRIC_PATTERNS.items():
        assert pattern.search(lines[0]), f"{name} missing from {lines[0]!r}"
    assert list((bert_training.checkpoint_dir / "spot-job").glob("*.index")), "no checkpoint written"
    second = bert_training.second.stdout
    assert [line.split(" ")[0] for line in epoch_lines(second)] == ["epoch=2"], second
    # Another job never resumes from this one's checkpoints: it trains from epoch 1 in a folder of its own.
    other = bert_training.other.stdout
    assert "resuming" not in other and [line.split(" ")[0] for line in epoch_lines(other)] == ["epoch=1"], (
        other
    )
    assert list((bert_training.checkpoint_dir / "trial").glob("*.index"))

    model_dir = bert_training.model_dir
    classes = read_classes(tfrecord_splits / "train")
    labels = json.loads((model_dir / "labels.json").read_text(encoding="utf-8"))
    assert labels["classes"] == classes
    assert labels["pooling"] == "mean"  # as the checkpoint's 1_Pooling/config.json says
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    assert [config["id2label"][str(i)] for i in range(len(classes))] == classes
    for name in ("tf_model.h5", "tokenizer.json", "tokenizer_config.json", "saved_model/1/saved_model.pb"):
        assert (model_dir / name).is_file(), f"{name} missing from the export"

    make_model_tarball(model_dir, tmp_path / "artifact" / "model.tar.gz")
    output_dir = tmp_path / "evaluation"
    arguments = ["--model-dir", str(tmp_path / "artifact"), "--test-dir", str(tfrecord_splits / "test")]
    run_script("evaluate.py", [*arguments, "--output-dir", str(output_dir), "--model-type", "bert"])
    test_count = len(read_split_table(tfrecord_splits / "test"))
    assert_evaluation_report(output_dir, classes, test_count)


# What the TensorFlow Serving image's Python front end does with code/inference.py: import it by path and
# call input_handler(request body stream, context). Run with -S, so no site-packages: only the standard
# library, code/ and code/lib/ (the image's --pythonpath) are there to import from.
TFS_FRONT_END = """
import collections, importlib.util, io, sys
spec = importlib.util.spec_from_file_location("inference", sys.argv[1])
inference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(inference)
Context = collections.namedtuple("Context", "request_content_type accept_header")
body = io.BytesIO(sys.stdin.buffer.read())
print(inference.input_handler(body, Context(sys.argv[2], "application/json")))
assert "transformers" not in sys.modules and "tensorflow" not in sys.modules
"""


def tfs_request(code: Path, body: str, content_type: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-S", "-c", TFS_FRONT_END, str(code / "inference.py"), content_type],
        input=body,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": os.pathsep.join([str(code), str(code / "lib")]), "PATH": os.environ["PATH"]},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_bert_export_takes_text_on_tensorflow_serving(bert_training: BertTraining) -> None:
    """model.tar.gz as SageMaker's TensorFlow Serving image serves it: code/inference.py turns text into
    the TF Serving request and TF Serving's answer into labels, needing nothing the image lacks."""
    import tensorflow as tf

    requests = pytest.importorskip("requests")
    model_dir = bert_training.model_dir
    code = model_dir / "code"
    assert (code / "inference.py").read_bytes() == (SCRIPTS / "inference.py").read_bytes()
    assert (code / "lib" / "tokenizers").is_dir()
    # With code/lib/ the image installs nothing; the endpoint runs with network isolation, where it can't.
    assert not (code / "requirements.txt").exists()

    texts = [
        "Love this dress, it fits perfectly!",
        "Awful fabric.\nSent it back",
        'Ok, "not great" &amp; thin',
    ]
    request = tfs_request(code, json.dumps({"instances": texts}), "application/json")
    csv_lines = "".join('"' + text.replace('"', '""') + '"\n' for text in texts)
    assert tfs_request(code, csv_lines, "text/csv") == request
    assert request["signature_name"] == "serving_default"
    assert set(request["inputs"]) == {"input_ids", "attention_mask"}

    # TF Serving's REST predict on a columnar request: the signature applied to the named input tensors,
    # answered as {"outputs": {name: rows}} since the signature has more than one output.
    signature = tf.saved_model.load(str(model_dir / "saved_model" / "1")).signatures[
        request["signature_name"]
    ]
    outputs = signature(**{name: tf.constant(rows, tf.int32) for name, rows in request["inputs"].items()})
    response = requests.Response()
    response.status_code = 200
    response._content = json.dumps({"outputs": {k: v.numpy().tolist() for k, v in outputs.items()}}).encode()

    spec = importlib.util.spec_from_file_location("served_inference", code / "inference.py")
    assert spec is not None and spec.loader is not None
    handler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler)
    context = SimpleNamespace(request_content_type="application/json", accept_header="application/json")
    body, content_type = handler.output_handler(response, context)
    assert content_type == "application/json"
    served = json.loads(body)["predictions"]

    # The same answers as the in-process handler chain that `make serve` runs.
    local = handler.predict_fn(texts, handler.model_fn(str(model_dir)))
    assert [p["label"] for p in served] == [p["label"] for p in local]
    for ours, theirs in zip(served, local, strict=True):
        assert ours["probabilities"] == pytest.approx(theirs["probabilities"], abs=1e-5)

    failed = requests.Response()
    failed.status_code, failed._content = 400, b'{"error": "bad input"}'
    with pytest.raises(ValueError, match="400"):
        handler.output_handler(failed, context)


def test_the_confusion_matrix_draws_class_labels_literally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A '$' in a class label would switch matplotlib into math mode (and fail when unbalanced).
    evaluate = load_script("evaluate", monkeypatch)
    path = tmp_path / "confusion.png"
    evaluate.plot_confusion_matrix([[3, 1], [0, 2]], ["cost $5 # $", "$x_1$"], path)
    assert path.read_bytes()[:4] == b"\x89PNG"


# -------------------------------------------------------------------------------------- PyTorch / BERT


@pytest.fixture(scope="module")
def token_array_splits(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not TRAINS_WITH_PYTORCH:
        pytest.skip("this project's model reads no token arrays: no token_arrays_format.py")
    output_dir = tmp_path_factory.mktemp("token-arrays") / "output"
    arguments = preprocess_arguments(
        output_dir, output_format="token-arrays", tokenizer=str(tiny_bert), max_seq_length=str(MAX_SEQ_LENGTH)
    )
    run_preprocessing(arguments)
    return output_dir


def test_preprocess_token_arrays(token_array_splits: Path, tiny_bert: Path) -> None:
    import numpy as np
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    classes = read_classes(token_array_splits / "train")
    lengths = []
    for split in ("train", "validation", "test"):
        assert read_classes(token_array_splits / split) == classes
        table = read_split_table(token_array_splits / split)
        texts, labels = [], []
        for path in split_files(token_array_splits / split, ".npz"):
            with np.load(path) as arrays:
                input_ids, offsets, part_labels = arrays["input_ids"], arrays["offsets"], arrays["labels"]
            assert (input_ids.dtype, offsets.dtype, part_labels.dtype) == (np.int32, np.int64, np.int64)
            assert len(offsets) == len(part_labels) + 1
            assert offsets[0] == 0 and offsets[-1] == len(input_ids) and (np.diff(offsets) > 0).all()
            texts += [
                input_ids[start:end].tolist() for start, end in zip(offsets[:-1], offsets[1:], strict=True)
            ]
            labels += part_labels.tolist()
        assert len(labels) == len(table) > 0
        assert [classes[i] for i in labels] == table["label"].tolist()
        # The ids the tokenizer gives the cleaned texts, truncated at the same place.
        cleaned = [" ".join(html.unescape(text).split()) for text in table["text"]]
        assert texts == tokenizer(cleaned, truncation=True, max_length=MAX_SEQ_LENGTH)["input_ids"]
        for ids in texts:
            assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
            assert tokenizer.pad_token_id not in ids  # unpadded
        lengths += map(len, texts)
    assert max(lengths) == MAX_SEQ_LENGTH and min(lengths) < MAX_SEQ_LENGTH  # truncated, not padded


@pytest.fixture(scope="module")
def pytorch_export(
    token_array_splits: Path, tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """One epoch of train.py (PyTorch) on the token arrays preprocess.py wrote; its export (SM_MODEL_DIR)."""
    work = tmp_path_factory.mktemp("pytorch-training")
    hyperparameters = {
        "epochs": 1,
        "learning_rate": 0.001,
        "batch_size": 32,
        "max_seq_length": MAX_SEQ_LENGTH,
        "pretrained_model": str(tiny_bert),
        "checkpoint_dir": str(work / "checkpoints"),
    }
    arguments = [part for name, value in hyperparameters.items() for part in (f"--{name}", str(value))]
    # USE_TF=0: a PyTorch project has no TensorFlow; a test environment may, and transformers would load it.
    result = run_script(
        "train.py", arguments, env=train_environment(token_array_splits, work) | {"USE_TF": "0"}
    )
    (line,) = epoch_lines(result.stdout)
    for name, pattern in METRIC_PATTERNS.items():
        assert pattern.search(line), f"{name} missing from {line!r}"
    return work / "model"


def test_pytorch_export_is_evaluated_and_served_alike(
    pytorch_export: Path, token_array_splits: Path, tmp_path: Path
) -> None:
    """evaluate.py scores train.py's export on test.npz; inference.py serves the same export from text and
    predicts the same classes for the test split's texts."""
    classes = read_classes(token_array_splits / "train")
    labels = json.loads((pytorch_export / "labels.json").read_text(encoding="utf-8"))
    assert labels["classes"] == classes and labels["pooling"] == "mean"
    for name in ("config.json", "model.safetensors", "classifier.safetensors", "tokenizer.json"):
        assert (pytorch_export / name).is_file(), f"{name} missing from the export"

    make_model_tarball(pytorch_export, tmp_path / "artifact" / "model.tar.gz")
    output_dir = tmp_path / "evaluation"
    arguments = ["--model-dir", str(tmp_path / "artifact"), "--test-dir", str(token_array_splits / "test")]
    arguments += ["--output-dir", str(output_dir), "--model-type", "bert"]
    run_script("evaluate.py", arguments, env=step_environment(USE_TF="0"))
    test = read_split_table(token_array_splits / "test")
    report = assert_evaluation_report(output_dir, classes, len(test))

    if not (SCRIPTS / "inference.py").is_file():
        return  # no endpoint, no handler to compare with
    code = pytorch_export / "code" / "inference.py"
    assert code.read_bytes() == (SCRIPTS / "inference.py").read_bytes()
    spec = importlib.util.spec_from_file_location("served_inference", code)
    assert spec is not None and spec.loader is not None
    handler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler)
    model = handler.model_fn(str(pytorch_export))
    texts = test["text"].tolist()
    body = handler.output_fn(
        handler.predict_fn(handler.input_fn(json.dumps({"instances": texts}), "application/json"), model)
    )
    served = json.loads(body)["predictions"]
    csv_lines = "".join('"' + text.replace('"', '""') + '"\n' for text in texts[:5])
    from_csv = handler.predict_fn(handler.input_fn(csv_lines.encode(), "text/csv"), model)
    assert from_csv == served[:5]
    # The confusion matrix evaluate.py drew is the one of the endpoint's answers.
    matrix = [[0] * len(classes) for _ in classes]
    for truth, prediction in zip(test["label"], served, strict=True):
        matrix[classes.index(truth)][classes.index(prediction["label"])] += 1
    assert matrix == report["confusion_matrix"]["matrix"]


def test_evaluate_a_pytorch_export_without_its_encoder_exits_2(
    pytorch_export: Path, token_array_splits: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "model"
    shutil.copytree(pytorch_export, broken)
    (broken / "model.safetensors").unlink()
    arguments = ["--model-dir", str(broken), "--test-dir", str(token_array_splits / "test")]
    arguments += ["--output-dir", str(tmp_path / "out"), "--model-type", "bert"]
    result = run_script("evaluate.py", arguments, expect=2, env=step_environment(USE_TF="0"))
    assert_one_line_error(result, "cannot load the encoder of train.py's export")
    assert not (tmp_path / "out").exists()
