"""The training format of the built-in BlazingText algorithm, written by preprocess.py: one line per
example, ``__label__<class>`` and then the text's tokens.

Only projects whose model is BlazingText (or Autopilot: the local AutoML search tries fastText) have
this module; preprocess.py imports it when it is asked for --output-format blazingtext. The inference
handler (inference.py) tokenizes a request the same way, and reads the class labels back with
``urllib.parse.unquote``, as :func:`class_of` does for evaluate.py.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, unquote

LABEL_PREFIX = "__label__"  # BlazingText/fastText: a token that starts with it names a class
# A word (keeping inner apostrophes: "don't", "it's") or a single punctuation character.
_TOKEN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
_LABEL_UNSAFE = re.compile(r"[\s%]")  # what a class label cannot hold in that format as it is


def blazingtext_tokens(text: str) -> str:
    """Lower-cased tokens with punctuation split off, the way BlazingText/fastText expects its input.

    HTML entities are unescaped first (the source has &#39; and &quot;). A token that starts with the
    label marker would be read as one more class ("__label__5" in a review): it loses the marker's
    leading underscores.
    """
    lowered = html.unescape(text).lower()
    tokens = _TOKEN.findall(lowered)
    if LABEL_PREFIX not in lowered:  # nearly every text: no token to look at
        return " ".join(tokens)
    return " ".join(t.removeprefix("__") if t.startswith(LABEL_PREFIX) else t for t in tokens)


def blazingtext_label(label: str) -> str:
    """The class as one token: fastText splits lines at white space, so white space (and '%', which keeps
    the encoding reversible) is percent-encoded. Readers decode it with ``urllib.parse.unquote``."""
    return LABEL_PREFIX + _LABEL_UNSAFE.sub(lambda match: quote(match.group(), safe=""), label)


def class_of(label: str) -> str:
    """A ``__label__<class>`` that fastText predicts, back to the class: :func:`blazingtext_label` undone."""
    return unquote(label.removeprefix(LABEL_PREFIX))


def write_blazingtext(path: Path, texts: Iterable[str], labels: Iterable[str]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for text, label in zip(texts, labels, strict=True):
            out.write(f"{blazingtext_label(label)} {blazingtext_tokens(text)}\n")
