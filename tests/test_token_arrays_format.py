"""The generated project's token-array writer (template/pipelines/__pkg__/token_arrays_format.py), the
input of a PyTorch BERT project's train.py: for any texts, what train.py reads back is what the endpoint's
handler (inference.py) gives the model for the same texts, whatever max_seq_length preprocessing and
training each use."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import import_beside

pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

PACKAGE = Path(__file__).resolve().parents[1] / "template" / "pipelines" / "__pkg__"
CORPUS = ["love this dress", "awful fit, sent it back", "the fabric is soft & thin", "runs small; size up!"]
# Words the tokenizer knows, pieces it splits, white space and HTML entities that cleaning changes.
PIECES = ["love", "dress", "fit", "fabric", "xyzzy", "É", " ", "  ", "\n", "&amp;", "&#39;", ",", "!"]
TEXTS = st.lists(st.lists(st.sampled_from(PIECES), max_size=40).map("".join), min_size=1, max_size=8)


def _module(name: str) -> ModuleType:
    return import_beside(PACKAGE / name, f"_template_{Path(name).stem}")


WRITER, HANDLER, PREPROCESS = (
    _module("token_arrays_format.py"),
    _module("inference.py"),
    _module("preprocess.py"),
)
BATCHES = _module("token_batches.py")  # what train.py reads the arrays with


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wordpiece = tokenizers.Tokenizer(tokenizers.models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wordpiece.train_from_iterator(
        CORPUS, tokenizers.trainers.WordPieceTrainer(vocab_size=120, special_tokens=specials)
    )
    wordpiece.post_processor = tokenizers.processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[(token, wordpiece.token_to_id(token)) for token in ("[CLS]", "[SEP]")],
    )
    folder = tmp_path_factory.mktemp("tokenizer")
    transformers.PreTrainedTokenizerFast(
        tokenizer_object=wordpiece, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    ).save_pretrained(folder)
    return folder


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=TEXTS, preprocess_length=st.integers(4, 40), train_length=st.integers(4, 40))
def test_train_reads_the_ids_the_endpoint_sends(
    tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory, texts, preprocess_length, train_length
) -> None:
    tokenizer = WRITER.load_tokenizer(str(tokenizer_dir))
    channel = tmp_path_factory.mktemp("channel")
    labels = [i % 3 for i in range(len(texts))]
    # preprocess.py cleans the texts, then writes the split.
    cleaned = [PREPROCESS.clean_text(text) for text in texts]
    WRITER.write_token_arrays(channel / "train.npz", cleaned, labels, tokenizer, preprocess_length)
    read = BATCHES.TokenizedTexts.read(channel, num_classes=3, max_seq_length=train_length)
    assert read.labels.tolist() == labels
    trained = [read.input_ids[a:b].tolist() for a, b in zip(read.offsets[:-1], read.offsets[1:], strict=True)]

    # The export serves with train.py's max_seq_length; preprocessing may have cut the texts shorter still.
    export = tmp_path_factory.mktemp("export")
    (export / "tokenizer.json").write_bytes((tokenizer_dir / "tokenizer.json").read_bytes())
    served_length = min(preprocess_length, train_length)
    (export / "labels.json").write_text(
        json.dumps({"classes": ["a", "b", "c"], "max_seq_length": served_length})
    )
    input_ids, attention_mask = HANDLER.TextEncoder.load(export).encode(texts)
    served = [ids[: sum(mask)] for ids, mask in zip(input_ids, attention_mask, strict=True)]
    assert trained == served
    assert all(ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id for ids in trained)


def test_no_texts_make_an_empty_split() -> None:
    arrays = WRITER.token_arrays([], [], tokenizer=None, max_seq_length=8)
    assert [len(arrays[name]) for name in ("input_ids", "offsets", "labels")] == [0, 1, 0]


# ---------------------------------------------------------------------------------------------- parts
# preprocess.py writes a split as one file per part of its input rows, <split>-<part>.npz; readers take the
# files in name order as one split.


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(st.lists(st.sampled_from(PIECES), max_size=20).map("".join), max_size=12),
    cuts=st.lists(st.integers(0, 12), max_size=4).map(sorted),
)
def test_the_parts_of_a_split_read_as_the_whole_split(
    tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory, texts, cuts
) -> None:
    tokenizer = WRITER.load_tokenizer(str(tokenizer_dir))
    labels = [i % 3 for i in range(len(texts))]
    bounds = [0, *(min(cut, len(texts)) for cut in cuts), len(texts)]
    channel = tmp_path_factory.mktemp("channel")
    for part, (start, end) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        # Names that sort one way as text and another as numbers: the order is the names'.
        name = f"train-{chr(ord('a') + part)}{9 - part}.npz"
        WRITER.write_token_arrays(channel / name, texts[start:end], labels[start:end], tokenizer, 16)
    whole = WRITER.token_arrays(texts, labels, tokenizer, 16)

    read = WRITER.read_token_arrays(sorted(channel.glob("*.npz")))
    assert {name: array.tolist() for name, array in read.items()} == {
        name: array.tolist() for name, array in whole.items()
    }
    if texts:  # train.py refuses a channel without texts
        trained = BATCHES.TokenizedTexts.read(channel, num_classes=3, max_seq_length=16)
        assert trained.labels.tolist() == labels
        assert trained.offsets.tolist() == whole["offsets"].tolist()
        assert trained.input_ids.tolist() == whole["input_ids"].tolist()


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"input_ids": [5, 6, 7], "offsets": [0, 2], "labels": [1]}, "offsets that do not fit its 1 texts"),
        ({"input_ids": [5, 6], "offsets": [0, 2], "labels": [1, 0]}, "offsets that do not fit its 2 texts"),
        ({"input_ids": [5, 6], "offsets": [0, 2]}, "is not token arrays"),
    ],
)
def test_a_part_that_is_not_token_arrays_is_named(tmp_path: Path, arrays, message) -> None:
    import numpy as np

    np.savez(tmp_path / "test-a.npz", input_ids=[1], offsets=[0, 1], labels=[0])
    np.savez(tmp_path / "test-b.npz", **{name: np.asarray(values) for name, values in arrays.items()})
    with pytest.raises(WRITER.TokenArraysError, match=message) as caught:
        WRITER.read_token_arrays(sorted(tmp_path.glob("*.npz")))
    assert "test-b.npz" in str(caught.value)
