"""Loading specs: valid examples load; every problem is reported at once with file:line:column."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sagespec.errors import SagespecError, SpecError, SpecSyntaxError
from sagespec.spec import load_spec, load_spec_text

from ..conftest import EXAMPLE_SPECS


@pytest.mark.parametrize("path", EXAMPLE_SPECS, ids=lambda p: p.name)
def test_example_specs_are_valid(path):
    loaded = load_spec(path)
    assert loaded.spec.spec_version == 1
    assert loaded.spec.dataset.classes == [-1, 0, 1]
    assert not [w for w in loaded.warnings if w.severity == "error"]


def test_example_specs_start_with_a_schema_modeline():
    for path in EXAMPLE_SPECS:
        assert path.read_text().splitlines()[0].startswith("# yaml-language-server: $schema=")


def errors_of(text: str) -> dict[str, tuple[int | None, int | None, str]]:
    with pytest.raises(SpecError) as info:
        load_spec_text(text)
    return {i.path: (i.line, i.column, i.message) for i in info.value.issues}


def test_unknown_field_is_located(example_text):
    text = example_text().replace("  region: us-east-1\n", "  regoin: us-east-1\n")
    errors = errors_of(text)
    line = text.splitlines().index("  regoin: us-east-1") + 1
    assert errors["project.regoin"] == (line, 3, "unknown field (not allowed here)")


def test_all_structural_errors_are_reported_together(example_text):
    text = (
        example_text()
        .replace("slug: reviews-blazingtext", "slug: Reviews_BT")
        .replace("instance_type: ml.c5.2xlarge", "instance_type: c5.2xlarge")
        .replace("balance: downsample", "balance: upsample-lots")
    )
    errors = errors_of(text)
    assert set(errors) == {"project.slug", "model.instance_type", "dataset.balance"}
    assert "lower-case letters" in errors["project.slug"][2]
    assert "not a SageMaker instance type" in errors["model.instance_type"][2]
    assert "'none' or 'downsample'" in errors["dataset.balance"][2]


def test_cross_field_errors_are_reported_together_and_located(example_text):
    text = (
        example_text()
        .replace("    epochs: 15\n", "    epochz: 15\n")
        .replace("test: 0.1}", "test: 0.2}")
        .replace("positive_labels: [1]", "positive_labels: [7]")
    )
    errors = errors_of(text)
    assert set(errors) == {"model.hyperparameters.epochz", "dataset.split", "bias.positive_labels.0"}
    line, col, message = errors["model.hyperparameters.epochz"]
    assert text.splitlines()[line - 1].strip() == "epochz: 15" and col == 5
    assert "allowed: buckets, early_stopping, epochs" in message
    assert "sum to 1" in errors["dataset.split"][2]


def test_structural_and_cross_field_errors_come_in_one_report(example_text):
    text = (
        example_text()
        .replace("slug: reviews-blazingtext", "slug: Reviews_BT")  # structural, in project
        .replace("test: 0.1}", "test: 0.2}")  # cross-field, in dataset
        .replace("    epochs: 15\n", "    epochz: 15\n")  # cross-field, in model
    )
    errors = errors_of(text)
    assert set(errors) == {"project.slug", "dataset.split", "model.hyperparameters.epochz"}


def test_a_check_on_a_broken_section_is_skipped(example_text):
    """The model section fails validation, so the model checks (unknown hyperparameters) do not run on it;
    the dataset's still do."""
    text = (
        example_text()
        .replace("instance_type: ml.c5.2xlarge", "instance_type: c5.2xlarge")
        .replace("test: 0.1}", "test: 0.2}")
        .replace("    epochs: 15\n", "    epochz: 15\n")
    )
    assert set(errors_of(text)) == {"model.instance_type", "dataset.split"}


@pytest.mark.parametrize(
    ("tags", "fragment"),
    [
        ("{team: 'a {{ b }}'}", "'{' is not allowed in AWS tags"),
        ("{'aws:team': x}", "reserved for AWS"),
        ("{'te<am': x}", "'<' is not allowed"),
    ],
)
def test_tags_follow_aws_tag_rules(example_text, tags, fragment):
    text = re.sub(r"  tags:\n(    .*\n)+", f"  tags: {tags}\n", example_text())
    errors = errors_of(text)
    assert fragment in errors["project.tags"][2]


def test_discriminator_errors_point_at_type(example_text):
    text = example_text().replace("type: blazingtext", "type: fasttext")
    ((path, (line, _, message)),) = errors_of(text).items()
    assert path == "model.type"
    assert text.splitlines()[line - 1].strip() == "type: fasttext"
    assert "'blazingtext', 'bert'" in message


def test_missing_required_field(example_text):
    text = example_text().replace("  text_column: Review Text\n", "")
    errors = errors_of(text)
    assert errors["dataset.text_column"][2] == "required field is missing"


def test_yaml_syntax_error_has_a_position():
    with pytest.raises(SpecSyntaxError, match=r"<spec>:2:1: not valid YAML"):
        load_spec_text("a: [1\n")


def test_duplicate_keys_are_rejected():
    with pytest.raises(SpecSyntaxError, match="duplicate key"):
        load_spec_text("spec_version: 1\nspec_version: 1\n")


def test_top_level_must_be_a_mapping():
    with pytest.raises(SpecSyntaxError, match="mapping"):
        load_spec_text("- 1\n- 2\n")


def test_missing_file(tmp_path):
    with pytest.raises(SpecSyntaxError, match="no such spec file"):
        load_spec(tmp_path / "nope.yaml")


def test_error_rendering_names_file_line_field(write_spec, example_text):
    path = write_spec(example_text().replace("threshold: 0.6\n", "threshold: 1.5\n"))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    rendered = info.value.render()
    assert f"{path}:" in rendered and "evaluation.threshold" in rendered and "1 problem in" in rendered


# ---------------------------------------------------------------------------------- hostile spec files
# Every one ends in a clean SagespecError with file:line:column, fast, whatever the input.

# A hang guard, not a speed target: an unbounded expansion or scan runs for minutes, a bounded one stays
# far below this even on a loaded machine. The figures themselves (about 0.1-0.5 s of CPU) are printed by
# benchmarks/hostile_specs.py beside a valid spec's load time.
FAST = 10.0


def alias_bomb(fan_out: int, levels: int) -> str:
    """A short spec whose aliases expand to fan_out ** levels values."""
    lines = ['a0: &a0 ["x"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan_out) + "]")
    return "spec_version: 1\n" + "\n".join(lines) + "\n"


def timed(load, *args):
    """What ``load(*args)`` returned or raised, and the CPU seconds it took: the better of two tries
    when the first is slow, since other jobs on this machine's two cores slow even CPU time."""

    def once():
        start = time.process_time()
        try:
            return load(*args), time.process_time() - start
        except SagespecError as exc:
            return exc, time.process_time() - start

    result, seconds = once()
    return (result, seconds) if seconds < FAST else (result, min(seconds, once()[1]))


def test_an_alias_bomb_is_refused_at_once():
    text = alias_bomb(10, 9)
    assert len(text) < 4000
    error, seconds = timed(load_spec_text, text)
    assert isinstance(error, SpecSyntaxError) and seconds < FAST
    assert re.match(r"<spec>:\d+:\d+: a\d[.\d]*: the spec expands to more than 100,000 values", str(error))


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 5000 + "]" * 5000 + "\n",
        "a: " + "{b: " * 5000 + "1" + "}" * 5000 + "\n",
        "- " * 3000 + "x\n",
    ],
    ids=["flow-lists", "flow-maps", "block-lists"],
)
def test_deep_nesting_is_refused_with_a_position(text):
    error, seconds = timed(load_spec_text, text)
    assert isinstance(error, SpecSyntaxError) and seconds < FAST
    assert re.match(r"<spec>:\d+:\d+: .*nested deeper than 32 levels", str(error)), str(error)


def test_a_recursive_alias_is_a_clean_error():
    error, seconds = timed(load_spec_text, "a: &a [*a]\nb: &b {c: *b}\n")
    assert isinstance(error, SpecError | SpecSyntaxError) and seconds < FAST


def test_an_oversized_spec_is_refused_before_parsing(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(("# " + "x" * 78 + "\n") * 40_000)  # 3.2 MB of comments
    error, seconds = timed(load_spec, path)
    assert isinstance(error, SpecSyntaxError) and seconds < FAST
    assert str(error) == f"{path}: the spec is larger than 256 KiB, the most sagespec reads"
    error, _ = timed(load_spec_text, path.read_text())
    assert "larger than 256 KiB" in str(error)


@pytest.mark.parametrize("kind", ["fifo", "folder", "dev-zero"])
def test_a_spec_that_is_no_regular_file_is_refused_without_reading(tmp_path, kind):
    path = tmp_path / "spec.yaml"
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs here")
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        path = Path("/dev/zero")
        if not path.exists():
            pytest.skip("no /dev/zero here")
    error, seconds = timed(load_spec, path)
    assert isinstance(error, SpecSyntaxError) and seconds < FAST
    assert str(error).startswith(f"{path}: not a regular file")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            "spec_version: 1\nproject:\n  name: caf\xe9\n".encode("latin-1"),
            ":3:12: not UTF-8 text (byte 0xe9)",
        ),
        (b"spec_version: 1\nproject:\n  name: a\0b\n", ":3:10: not valid YAML: control character #x0000"),
        (
            "spec_version: 1\nproject: {name: \u00e9\u00e9\x07}\n".encode(),
            ":2:19: not valid YAML: control character #x0007",
        ),
    ],
    ids=["latin-1", "nul", "bel"],
)
def test_bad_bytes_are_located_by_line_and_column(tmp_path, data, message):
    path = tmp_path / "spec.yaml"
    path.write_bytes(data)
    with pytest.raises(SpecSyntaxError) as info:
        load_spec(path)
    assert str(info.value).startswith(f"{path}{message}"), str(info.value)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("!foo reviews-blazingtext", "unknown tag '!foo'"),
        ("!!python/object:os.system x", "unknown tag 'tag:yaml.org,2002:python/object:os.system'"),
        ("!!binary cmV2aWV3cw==", "binary data (!!binary) is not allowed"),
        ("!!set {reviews}", "a set (!!set) is not allowed"),
        ("!foo {a: 1}", "unknown tag '!foo'"),
    ],
)
def test_tags_are_refused_where_they_are(example_text, value, fragment):
    text = example_text().replace("slug: reviews-blazingtext", f"slug: {value}")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.strip().startswith("slug:"))
    errors = errors_of(text)
    assert list(errors) == ["project.slug"]
    assert errors["project.slug"][:2] == (line, 3) and fragment in errors["project.slug"][2]


def test_a_str_tag_is_plain_yaml(example_text):
    text = example_text().replace("slug: reviews-blazingtext", "slug: !!str reviews-blazingtext")
    assert load_spec_text(text).spec.project.slug == "reviews-blazingtext"


@pytest.mark.parametrize("value", [".nan", ".NaN", ".inf", "-.inf", "+.Inf"])
@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("threshold: 0.6\n", "threshold: {}\n", "evaluation.threshold"),
        ("learning_rate: 0.1", "learning_rate: {}", "model.hyperparameters.learning_rate"),
        ("DPL: {{threshold: 0.7}}", "DPL: {{threshold: {}}}", "bias.metrics.DPL.threshold"),
        (
            "initial_weight: 0.5\n    - name: Challenger",
            "initial_weight: {}\n    - name: Challenger",
            "deployment.variants.0.initial_weight",
        ),
        ("split: {{train: 0.8,", "split: {{train: {},", "dataset.split.train"),
    ],
)
def test_non_finite_numbers_are_refused_everywhere(example_text, value, old, new, field):
    text = example_text()
    old = old.replace("{{", "{").replace("}}", "}")
    assert old in text
    errors = errors_of(text.replace(old, new.format(value), 1))
    assert field in errors and errors[field][2].startswith("must be a finite number, got ")
    assert not [path for path in errors if path.startswith(field + ".")]


@settings(max_examples=40, deadline=None)
@given(fan_out=st.integers(1, 12), levels=st.integers(1, 10), depth=st.integers(0, 3000))
def test_any_fan_out_and_nesting_ends_fast_and_clean(fan_out, levels, depth):
    for text in (alias_bomb(fan_out, levels), "a: " + "[" * depth + "]" * depth + "\n"):
        result, seconds = timed(load_spec_text, text)
        assert seconds < FAST, (fan_out, levels, depth, seconds)
        assert isinstance(result, SpecError | SpecSyntaxError)  # neither is a valid spec


# YAML's indicators, whitespace (tab, NEL, line separator), NUL and a little text: random "specs" that
# reach far into the parser.
YAML_ALPHABET = "ab1é:-[]{}&*!|>'\"#%.,? \n\t\0\x85\u2028"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.binary(max_size=300)
    | st.text(alphabet=st.sampled_from(list(YAML_ALPHABET)), max_size=300).map(str.encode)
)
def test_any_bytes_as_a_spec_give_a_sagespec_error(tmp_path, data):
    path = tmp_path / "spec.yaml"
    path.write_bytes(data)
    with pytest.raises(SagespecError) as info:
        load_spec(path)
    assert isinstance(info.value, SpecError) or "\n" not in str(info.value)  # one line


def _string_places(node, path=()):
    """(path, is_key) of every string value and mapping key of a spec's data."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key), True
            yield from _string_places(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _string_places(value, (*path, index))
    elif isinstance(node, str):
        yield path, False


def _with_surrogate(node, path, is_key, surrogate):
    if len(path) == 1:
        if is_key:
            return {(k + surrogate if k == path[0] else k): v for k, v in node.items()}
        copy = list(node) if isinstance(node, list) else dict(node)
        copy[path[0]] = node[path[0]] + surrogate
        return copy
    copy = list(node) if isinstance(node, list) else dict(node)
    copy[path[0]] = _with_surrogate(node[path[0]], path[1:], is_key, surrogate)
    return copy


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), surrogate=st.integers(0xD800, 0xDFFF).map(chr))
def test_a_lone_surrogate_escape_anywhere_is_a_located_error_not_a_crash(
    tmp_path, example_text, write_spec, capsys, data, surrogate
):
    """YAML's "\\ud800" is half of a UTF-16 pair, no character: in any key or value it is refused where it
    stands, and `sagespec new` exits 2 without a traceback and writes nothing (it once rendered the
    spec and died encoding the files: UnicodeEncodeError)."""
    import json

    from ruamel.yaml import YAML

    from sagespec.cli import main

    spec = json.loads(json.dumps(YAML(typ="safe").load(write_spec(example_text()).read_text())))
    places = [p for p in _string_places(spec) if p[0][0] != "spec_version"]
    path, is_key = data.draw(st.sampled_from(places))
    # JSON is YAML: json.dumps writes the lone surrogate as the escape \udXXX, which YAML reads back.
    spec_file = tmp_path / "surrogate.yaml"
    spec_file.write_text(json.dumps(_with_surrogate(spec, path, is_key, surrogate)), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec(spec_file)
    message = info.value.render()
    message.encode("utf-8")  # printable as it is
    assert "half of a UTF-16 surrogate pair" in message
    assert re.search(rf"surrogate\.yaml:\d+:\d+: error: {re.escape(str(path[0]))}", message), message
    out = tmp_path / "out"
    assert main(["new", str(spec_file), "-o", str(out)]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not out.exists()


def test_an_escaped_surrogate_pair_is_the_character_as_in_json(example_text):
    """JSON is YAML, and JSON writes a character beyond U+FFFF as an escaped pair: it reads as that one
    character (ruamel alone would give two lone surrogates)."""
    text = example_text().replace(
        "name: Women's Clothing Reviews - BlazingText", 'name: "Reviews \\ud83d\\ude00"'
    )
    text = text.replace("description: Sentiment of", 'description: "\\ud83d\\ude1e" #')
    loaded = load_spec_text(text)
    assert loaded.spec.project.name == "Reviews \U0001f600"
    assert loaded.spec.project.description == "\U0001f61e"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    form=st.sampled_from(["{}", "-{}", "+{}", "1_{}", "0x{}", "0o{}", "0b{}"]),
    digits=st.integers(4000, 9000),
)
def test_a_number_of_thousands_of_digits_is_a_located_error(example_text, data, form, digits):
    """Python's int() refuses more than 4300 decimal digits, and str() of a larger int made from 0x...
    fails too: either way a ValueError traceback from the parser or a check, before. Now one located
    error, wherever the number stands."""
    alphabet = {"0x": "f", "0o": "7", "0b": "1"}.get(form[:2], "9")
    number = form.format(alphabet * digits)
    text = example_text()
    old, new = data.draw(
        st.sampled_from(
            [("epochs: 15", "epochs: {}"), ("seed: 42", "seed: {}"), ("threshold: 0.6", "threshold: {}"),
             ("4: 1, 5: 1}", "4: 1, 5: {}}}")]
        )
    )  # fmt: skip
    text = text.replace(old, new.format(number), 1)
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if number in row)
    with pytest.raises(SagespecError) as info:
        load_spec_text(text, Path("spec.yaml"))
    rendered = info.value.render()
    assert "Traceback" not in rendered and f"spec.yaml:{line}:" in rendered, rendered
    assert "thousands of digits" in rendered or "bits; a spec needs far fewer" in rendered, rendered
