"""Spec values are printed as data: the filters quote them for the file they land in."""

from __future__ import annotations

import ast
import json

import pytest
from ruamel.yaml import YAML

from sagespec.errors import GenerationError
from sagespec.render.engine import make_environment, py_literal, yaml_scalar

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
    assert out == 'name = "{{ 7*7 }}"\nraw: {{ 7*7 }}\n'
    assert json.loads(out.splitlines()[0].split(" = ")[1]) == "{{ 7*7 }}"


def test_undefined_variables_fail(tmp_path):
    (tmp_path / "t.j2").write_text("{{ missing }}")
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        make_environment(tmp_path).get_template("t.j2").render()
