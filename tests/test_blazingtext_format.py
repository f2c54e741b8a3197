"""The generated project's BlazingText writer (template/pipelines/__pkg__/blazingtext_format.py): what
training reads is what the endpoint's handler (inference.py) gives the model, for any text, and every
class label survives the trip through fastText's one-token format."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from sagespec.project_modules import import_file

PACKAGE = Path(__file__).resolve().parents[1] / "template" / "pipelines" / "__pkg__"


def _module(name: str) -> ModuleType:
    return import_file(PACKAGE / f"{name}.py", f"_template_{name}")


WRITER, HANDLER = _module("blazingtext_format"), _module("inference")
# Text with the characters the format cares about: white space of every kind, HTML entities, apostrophes,
# punctuation and the label marker itself.
PIECES = [" ", "\n", "\t", "\u00a0", "\u2028", "&#39;", "&amp;", "&quot;", "'", "’", "__label__", "_", "É"]
TEXTS = st.lists(st.one_of(st.text(max_size=4), st.sampled_from(PIECES))).map("".join)


@given(TEXTS)
def test_training_tokens_are_the_handlers(text: str) -> None:
    assert WRITER.blazingtext_tokens(text) == HANDLER.blazingtext_tokens(text)


@given(TEXTS)
def test_no_token_of_a_text_reads_as_a_class(text: str) -> None:
    assert not any(token.startswith("__label__") for token in WRITER.blazingtext_tokens(text).split())


@given(st.text(min_size=1))
def test_a_class_label_is_one_token_that_decodes_back(label: str) -> None:
    token = WRITER.blazingtext_label(label)
    assert token.split() == [token] and token.startswith("__label__")
    assert unquote(token.removeprefix("__label__")) == label
    assert HANDLER.class_of(token) == label


def test_a_line_holds_the_label_then_the_tokens(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    WRITER.write_blazingtext(path, ["It wasn&#39;t  SO bad,\nreally!"], ["very bad"])
    assert path.read_text(encoding="utf-8") == "__label__very%20bad it wasn't so bad , really !\n"
