"""Every free-text field of the spec, set to a string built to break each output format, reaches every
generated file as data.

For each string the example specs hold (values, and the keys of mappings whose keys are names), the field
is set once to a plain marker and once to the most hostile string the spec accepts for it. Every generated
file must keep the shape it has with the marker — YAML, JSON and TOML trees, Python syntax trees, SQL parse
trees, HTML tag sequences, Makefile rules, Markdown headings — so a newline in a comment, a quote in a
string or a ``${...}`` in a CloudFormation ``!Sub`` can never add a key, a statement or a rule. Where the
marker reached a string of a file, the hostile text reaches the same file intact.
"""

from __future__ import annotations

import ast
import copy
import csv
import json
import os
import re
import subprocess
import tomllib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from sagespec.errors import SagespecError
from sagespec.render import generate
from sagespec.spec import load_spec

from ..conftest import run_in_project

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
IAC_BIN = Path(os.environ.get("SAGESPEC_IAC_BIN", REPO / ".venv-iac" / "bin"))
MARKER = "zqxmarker"
# From the worst to the mildest: each field gets the first one the spec accepts for it.
HOSTILE = [
    "x\n# y\t{{ z }} {% if 1 %}\"q\" 'a'{% endif %} ${AWS::Region} $(id) `id` <b>&amp;</b> \\ %s ]]> */ -->"
    "\n```\n| a | b |\n- [x](javascript:1)",
    "x #: y {{ z }} \"q\" 'a' ${AWS::Region} $(id) `id` <b>&amp;</b> \\ %s ]]> */ --> é",
    "x #: y {{ z }} \"q\" 'a' $(id) `id` <b>&amp;</b> \\ %s é",
    "x #: y \"q\" 'a' <b> é",
    "x\"q'a{{z}}${AWS::Region}$(id)`id`<b>&amp;%s]]>*/-->é",  # one word
    "x\"q'a{{z}}$(id)`id`<b>&amp;%s]]>*/-->é",  # and no colon: git branch names
    "x: y 'a' é",
    "x y",
]
# Mappings whose keys are names a user types (the other mappings are keyed by field names).
NAME_KEYED = {("labeling", "labels"), ("project", "tags")}
SKIPPED = {("dataset", "source")}  # a path: its own tests cover odd file names


def _leaves(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """(path, kind) of every string value, and of every key of the name-keyed mappings."""
    if isinstance(node, dict):
        for key, value in node.items():
            if path in NAME_KEYED and isinstance(key, str):
                yield (*path, key), "key"
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, index))
    elif isinstance(node, str) and path not in SKIPPED:
        yield path, "value"


def _replaced(data: dict, path: tuple, kind: str, text: str) -> dict:
    """``data`` with the key or value at ``path`` set to ``text``; a value is replaced wherever it recurs
    (a facet column is named twice, a class in the mapping and in the positive labels)."""
    out = copy.deepcopy(data)
    parent = out
    for segment in path[:-1]:
        parent = parent[segment]
    if kind == "key":
        parent[text] = parent.pop(path[-1])
        return out
    original = parent[path[-1]]
    return _substitute(out, original, text)


def _substitute(node: Any, original: Any, text: str) -> Any:
    if isinstance(node, dict):
        return {k: _substitute(v, original, text) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, original, text) for v in node]
    return text if node == original and type(node) is type(original) else node


def _write(folder: Path, data: dict, rows: int = 60) -> Path:
    """The spec as JSON (which is YAML) beside a small dataset with the columns it names (each class's
    reviews share a word, so that a model can learn something from them)."""
    folder.mkdir(parents=True, exist_ok=True)
    ds = data["dataset"]
    facets = [*ds.get("facet_columns", []), *(f["column"] for f in data.get("bias", {}).get("facets", []))]
    columns = list(dict.fromkeys([ds["text_column"], ds["label_column"], *facets]))
    with (folder / "reviews.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        raws = list(ds["label_mapping"])
        for index in range(rows):
            raw = raws[index % len(raws)]
            text = f"review {index} says word{index % len(raws)} and more"
            row = {ds["text_column"]: text, ds["label_column"]: raw}
            writer.writerow([row.get(c, "Dresses" if index % 2 else "Knits") for c in columns])
    data = _replaced(data, ("dataset", "source"), "value", "reviews.csv")
    path = folder / "spec.yaml"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def _generate(folder: Path, data: dict) -> Path | None:
    try:
        loaded = load_spec(_write(folder, data))
    except SagespecError:
        return None
    generate(loaded, folder / "project")
    return folder / "project"


# ------------------------------------------------------------------------------------------ shapes


def _tree_shape(node: Any) -> Any:
    """A parsed document with every string (and scalar) replaced by its type: its structure alone."""
    if isinstance(node, dict):
        return ("map", sorted(repr((_tree_shape(k), _tree_shape(v))) for k, v in node.items()))
    if isinstance(node, list | tuple):
        return ("seq", [_tree_shape(v) for v in node])
    if hasattr(node, "tag") and hasattr(node, "value") and type(node).__module__.startswith("ruamel"):
        return ("tagged", str(node.tag), _tree_shape(node.value))  # !Sub, !Ref, ...
    return type(node).__name__ if not isinstance(node, str) else "str"


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node
    elif hasattr(node, "value") and type(node).__module__.startswith("ruamel"):
        yield from _strings(node.value)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.shape: list[tuple] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.shape.append(("<", tag, tuple(name for name, _ in attrs)))
        self.texts += [value for _, value in attrs if value]

    def handle_endtag(self, tag: str) -> None:
        self.shape.append(("/", tag))

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


def _yaml_load(text: str) -> Any:
    return YAML(typ="rt").load(text)  # round-trip: keeps CloudFormation's short-form tags


def _python(text: str) -> tuple[Any, list[str]]:
    tree = ast.parse(text)
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = "S"
    return ast.dump(tree), strings


def _sql(text: str) -> tuple[Any, list[str]]:
    import duckdb

    # Whole-line comments only: a "--" inside a quoted identifier is data.
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    body = body.strip().rstrip(";")
    serialized = duckdb.execute("SELECT json_serialize_sql(?::VARCHAR)", [body]).fetchall()[0][0]
    tree = json.loads(serialized)
    assert not tree.get("error"), f"not SQL: {tree}"
    return _tree_shape(tree), list(_strings(tree))


def _makefile(text: str) -> tuple[Any, list[str]]:
    rules = [line.split(":")[0] for line in text.splitlines() if re.match(r"^[A-Za-z0-9_.-]+:", line)]
    assignments = [m.group(1) for m in re.finditer(r"^([A-Z_]+) *[?:]?=", text, re.MULTILINE)]
    recipes = sum(1 for line in text.splitlines() if line.startswith("\t"))
    return (rules, assignments, recipes), [text]


def _markdown(text: str) -> tuple[Any, list[str]]:
    lines = text.splitlines()
    headings = [line.split(" ")[0] for line in lines if re.match(r"#{1,6}(\s|$)", line)]
    fences = sum(1 for line in lines if line.startswith("```"))
    return (headings, fences, len([line for line in lines if line.startswith("|")])), [text]


def _html(text: str) -> tuple[Any, list[str]]:
    parser = _Tags()
    parser.feed(text)
    parser.close()
    return parser.shape, parser.texts


def _requirements(text: str) -> tuple[Any, list[str]]:
    names = [re.split(r"[ =<>\[;@]", line.strip())[0] for line in text.splitlines()]
    return [n for n in names if n and not n.startswith("#")], [text]


def shape_of(path: Path) -> tuple[Any, list[str]] | None:
    """(structure, strings) of a generated file, or None for a file of no checked format."""
    text = path.read_text(encoding="utf-8")
    name = path.name
    if name.endswith((".yaml", ".yml")):
        doc = _yaml_load(text)
        return _tree_shape(doc), list(_strings(doc))
    if name.endswith(".json"):
        doc = json.loads(text)
        return _tree_shape(doc), list(_strings(doc))
    if name.endswith(".toml"):
        doc = tomllib.loads(text)
        return _tree_shape(doc), list(_strings(doc))
    if name.endswith(".py"):
        return _python(text)
    if name.endswith(".sql"):
        return _sql(text)
    if name.endswith(".html"):
        return _html(text)
    if name == "Makefile":
        return _makefile(text)
    if name.endswith(".md"):
        return _markdown(text)
    if name.endswith(".txt"):
        return _requirements(text)
    return None


def _files(root: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith(("data/", ".sagespec/", ".git/")) and rel != "spec.yaml":
            out[rel] = path
    return out


def _intact(hostile: str, strings: list[str]) -> bool:
    """The text is one of the strings, or inside one, or inside JSON that one of them holds."""
    for text in strings:
        if hostile in text:
            return True
        if text.lstrip().startswith(("{", "[")):
            try:
                inner = list(_strings(json.loads(text)))
            except ValueError:
                continue
            if _intact(hostile, inner):
                return True
    return False


# ------------------------------------------------------------------------------------------- tests


def _example(name: str) -> dict:
    if name == "strings":
        return _with_string_classes_and_ci()
    return json.loads(json.dumps(YAML(typ="safe", pure=True).load((REPO / "specs" / name).read_text())))


def _with_string_classes_and_ci() -> dict:
    """The BlazingText example with classes that are words and every CI and Studio string set."""
    data = _example("womens-clothing-blazingtext.yaml")
    data["dataset"]["label_mapping"] = {
        1: "negative",
        2: "negative",
        3: "neutral",
        4: "positive",
        5: "positive",
    }
    data["bias"]["positive_labels"] = ["positive"]
    data["labeling"]["labels"] = {"Negative": "negative", "Neutral": "neutral", "Positive": "positive"}
    data["ci"] = {
        "github_actions": {"branch": "release", "role_arn": "arn:aws:iam::111122223333:role/ci"},
        "codebuild": {"image": "aws/codebuild/standard:7.0"},
    }
    data["studio"] = {"repository_id": "team/reviews"}
    data["bias"]["facets"] = [{"column": "Class Name", "values": ["Dresses"]}]
    data["bias"]["group_column"] = "Class Name"
    data["bias"]["metrics"]["CDDL"] = {"threshold": 0.9}
    data["deployment"]["traffic_shifting"]["rollback_alarms"] = ["reviews-5xx"]
    tuning = _example("womens-clothing-blazingtext-tuning.yaml")["tuning"]
    data["tuning"] = tuning | {"warm_start": {"parent_jobs": ["reviews-tuning-1"]}}
    for name in tuning["ranges"]:
        data["model"]["hyperparameters"].pop(name, None)
    return data


EXAMPLES = [
    "womens-clothing-blazingtext.yaml",
    "womens-clothing-bert.yaml",
    "womens-clothing-blazingtext-tuning.yaml",
    "strings",
]


def _fields(name: str) -> list[tuple[tuple, str]]:
    """Each key, and each distinct value once (a recurring value is replaced everywhere at once)."""
    data, seen, out = _example(name), set(), []
    for path, kind in _leaves(data):
        if kind == "value":
            value = _value_at(data, path)
            if value in seen:
                continue
            seen.add(value)
        out.append((path, kind))
    return out


def _value_at(data: Any, path: tuple) -> Any:
    for segment in path:
        data = data[segment]
    return data


@pytest.mark.parametrize(
    ("example", "path", "kind"),
    [
        pytest.param(example, path, kind, id=f"{example.split('.')[0]}:{'.'.join(map(str, path))}:{kind}")
        for example in EXAMPLES
        for path, kind in _fields(example)
    ],
)
def test_a_hostile_string_in_a_field_stays_data_in_every_file(tmp_path, example, path, kind):
    data = _example(example)
    marked = _generate(tmp_path / "marker", _replaced(data, path, kind, MARKER))
    if marked is None:
        pytest.skip("not a free-text field: the spec refuses a plain word here")
    for hostile in HOSTILE:
        root = _generate(tmp_path / f"hostile{HOSTILE.index(hostile)}", _replaced(data, path, kind, hostile))
        if root is not None:
            break
    else:
        pytest.skip("the spec refuses every hostile string here (a pattern guards the field)")
    plain_files, hostile_files = _files(marked), _files(root)
    assert sorted(plain_files) == sorted(hostile_files)
    for rel, plain_path in plain_files.items():
        plain = shape_of(plain_path)
        if plain is None:
            continue
        try:
            hostile_shape = shape_of(hostile_files[rel])
        except Exception as exc:  # noqa: BLE001 - any parse failure is the finding
            pytest.fail(f"{rel}: no longer parses with {hostile!r} in {'.'.join(map(str, path))}: {exc}")
        assert hostile_shape is not None
        assert hostile_shape[0] == plain[0], f"{rel}: its structure changed with {hostile!r}"
        if rel.endswith((".yaml", ".yml", ".json", ".toml", ".py")) and any(MARKER in s for s in plain[1]):
            assert _intact(hostile, hostile_shape[1]), f"{rel}: the text did not arrive intact: {hostile!r}"


# The fields that take free text (what the cases above found), for the property below.
FREE_TEXT = [
    (("project", "name"), "value"),
    (("project", "description"), "value"),
    (("dataset", "text_column"), "value"),
    (("labeling", "task_title"), "value"),
    (("labeling", "task_description"), "value"),
    (("labeling", "instructions", "short"), "value"),
    (("labeling", "labels", "Negative"), "key"),
]  # not labeling.instructions.full: its blank lines make paragraphs, on purpose


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(texts=st.lists(st.text(min_size=1, max_size=40), min_size=len(FREE_TEXT), max_size=len(FREE_TEXT)))
def test_any_text_in_the_free_text_fields_keeps_every_file_well_formed(tmp_path_factory, texts):
    data = marked = _example("womens-clothing-blazingtext.yaml")
    for (path, kind), text in zip(FREE_TEXT, texts, strict=True):
        data = _replaced(data, path, kind, text)
        marked = _replaced(marked, path, kind, f"{MARKER}{len(text)}")
    root = _generate(tmp_path_factory.mktemp("any"), data)
    plain = _generate(tmp_path_factory.mktemp("plain"), marked)
    assume(root is not None)  # refused with a located error: nothing to check
    assert plain is not None
    plain_files, files = _files(plain), _files(root)
    assert sorted(plain_files) == sorted(files)
    for rel, path in plain_files.items():
        expected = shape_of(path)
        if expected is not None:
            assert shape_of(files[rel])[0] == expected[0], rel


# ------------------------------------------------------------------------- every field hostile at once


@pytest.fixture(scope="module")
def all_hostile(tmp_path_factory) -> Path:
    """The project of the example with every free-text field set to the most hostile string it takes."""
    data = _example("strings")
    fields = sorted(_fields("strings"), key=lambda field: field[1] == "key")  # values, then keys
    probe = tmp_path_factory.mktemp("probe")
    for path, kind in fields:
        for hostile in HOSTILE:
            candidate = _replaced(data, path, kind, hostile)
            try:
                load_spec(_write(probe, candidate))
            except SagespecError:
                continue
            data = candidate
            break
    folder = tmp_path_factory.mktemp("all-hostile")
    generate(load_spec(_write(folder, data, rows=900)), folder / "project")
    return folder / "project"


def test_every_field_hostile_at_once_is_ruff_clean(all_hostile):
    assert "$(id)" in (all_hostile / "spec.yaml").read_text(encoding="utf-8")
    for command in (("ruff", "check", "--no-cache", "."), ("ruff", "format", "--check", "--no-cache", ".")):
        result = run_in_project(all_hostile, *command, timeout=1800)
        assert result.returncode == 0, result.stdout + result.stderr


def test_every_field_hostile_at_once_passes_cfn_lint(all_hostile):
    cfn_lint = IAC_BIN / "cfn-lint"
    if not cfn_lint.exists():
        pytest.skip(f"{cfn_lint} is missing: create .venv-iac with cfn-lint (scripts/test.sh does)")
    templates = [
        str(p) for p in (all_hostile / "deploy/endpoint.yaml", all_hostile / "studio/project-template.yaml")
    ]
    result = subprocess.run([str(cfn_lint), *templates], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_field_hostile_at_once_passes_the_projects_own_tests(all_hostile):
    result = run_in_project(all_hostile, "pytest", "-q", "-p", "no:cacheprovider", timeout=1800)
    tail = (result.stdout + result.stderr)[-4000:]
    assert result.returncode == 0, tail
    assert " passed" in result.stdout and " failed" not in result.stdout, tail
