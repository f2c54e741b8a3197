"""Spec values are printed as data: the filters quote them for the file they land in."""

from __future__ import annotations

import ast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from sagespec.errors import GenerationError
from sagespec.render.engine import make_environment, markdown_code, markdown_text, py_literal, yaml_scalar

NASTY = [
    "{{ 7*7 }}",
    "{% if x %}y{% endif %}",
    'it\'s "quoted"',
    "line\nbreak",
    "$(rm -rf /)",
    "tab\there",
    "ü €",
]


@pytest.mark.parametrize("value", NASTY + [None, True, 3, 2.5, ["a", 1], {"k": ["v"]}, ("t",)])
def test_py_literal_round_trips(value):
    assert ast.literal_eval(py_literal(value)) == value


@pytest.mark.parametrize("value", NASTY)
def test_yaml_scalar_round_trips(value):
    assert YAML(typ="safe").load(f"key: {yaml_scalar(value)}\n") == {"key": value}


def test_py_literal_rejects_objects():
    with pytest.raises(GenerationError):
        py_literal(object())


def test_template_syntax_in_values_stays_literal(tmp_path):
    (tmp_path / "t.j2").write_text("name = {{ name | py }}\nraw: {{ name }}\n")
    env = make_environment(tmp_path)
    out = env.get_template("t.j2").render(name="{{ 7*7 }}")
    assert out == "name = '{{ 7*7 }}'\nraw: {{ 7*7 }}\n"  # quotes are ruff format's job (pyformat.py)
    assert ast.literal_eval(out.splitlines()[0].split(" = ")[1]) == "{{ 7*7 }}"


def test_undefined_variables_fail(tmp_path):
    (tmp_path / "t.j2").write_text("{{ missing }}")
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        make_environment(tmp_path).get_template("t.j2").render()


# Markdown: what a README shows of a spec string is the string itself, whatever it holds.
markdown_it = pytest.importorskip("markdown_it")
one_line = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60).filter(
    lambda t: t.strip() == t and t.strip()
)


def _github_markdown():
    """CommonMark with GitHub's tables and strikethrough (what renders a README on GitHub)."""
    return markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _inline_tokens(markdown: str) -> list:
    tokens = _github_markdown().parse(markdown)
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"], markdown
    return tokens[1].children


@settings(max_examples=300, deadline=None)
@given(text=one_line)
def test_markdown_text_shows_the_text_literally(text):
    children = _inline_tokens(markdown_text(text))
    assert all(child.type == "text" for child in children), markdown_text(text)
    assert "".join(child.content for child in children) == text


@settings(max_examples=300, deadline=None)
@given(text=one_line, table=st.booleans())
def test_markdown_code_is_one_code_span_of_the_text(text, table):
    span = markdown_code(text, table=table)
    [child] = _inline_tokens(span)
    assert child.type == "code_inline" and child.content == (text.replace("|", "\\|") if table else text)


def test_markdown_text_keeps_a_multi_line_description_one_flow_of_text():
    text = "x\n# not a heading\n```\n| a | b |\n- [x](javascript:1)\n1. one\n    indented"
    html = _github_markdown().render(markdown_text(text))
    for tag in ("<h1", "<pre", "<table", "<ul", "<ol", "<a ", "<code"):
        assert tag not in html
