"""The `feature_store` section: its fields' rules, the cross-field checks (located), and the preprocessing
arguments it turns into."""

from __future__ import annotations

import pytest

from sagespec.errors import SpecError
from sagespec.plan import build_plan, feature_store_arguments
from sagespec.spec import load_spec_text

STORE = "s3://reviews-feature-store/offline"
SECTION = f"""
feature_store:
  enabled: true
  offline: true
  offline_store_s3_uri: {STORE}
"""


def findings(text: str) -> dict[str, tuple[int | None, str, str]]:
    """Dotted path -> (line, message, severity) of every error and warning."""
    try:
        loaded = load_spec_text(text)
    except SpecError as exc:
        return {i.path: (i.line, i.message, i.severity) for i in exc.issues + exc.warnings}
    return {w.path: (w.line, w.message, w.severity) for w in loaded.warnings}


def line_of(text: str, fragment: str) -> int:
    """The line of ``fragment`` inside the feature_store section."""
    lines = text.splitlines()
    start = lines.index("feature_store:")
    return next(n for n, line in enumerate(lines[start:], start + 1) if fragment in line)


@pytest.fixture
def bert(example_text):
    return example_text("womens-clothing-bert.yaml")


def test_a_bert_spec_with_an_offline_store_is_valid_and_gets_the_defaults(bert):
    loaded = load_spec_text(bert + SECTION)
    assert not loaded.warnings
    spec = loaded.spec
    assert spec.feature_store_enabled and spec.feature_group_name == "reviews-bert-features"
    fs = spec.feature_store
    assert (fs.record_identifier, fs.event_time, fs.online, fs.offline) == (
        "review_id",
        "event_time",
        False,
        True,
    )


def test_the_preprocessing_step_gets_the_feature_store_arguments(bert):
    spec = load_spec_text(bert + SECTION + "  online: true\n  feature_group_name: Reviews_v2\n").spec
    arguments = list(build_plan(spec).step("PreprocessData").arguments)
    expected = [
        "--feature-group-name", "Reviews_v2",
        "--feature-store-region", "us-east-1",
        "--record-identifier", "review_id",
        "--event-time-feature", "event_time",
        "--online-store",
        "--offline-store-s3-uri", STORE,
    ]  # fmt: skip
    assert arguments[-len(expected) :] == expected
    # A local run swaps AWS for a local offline store; the plan itself never carries one.
    assert "--offline-store-dir" not in arguments


def test_no_section_or_disabled_means_no_arguments(bert):
    assert feature_store_arguments(load_spec_text(bert).spec) == []
    disabled = load_spec_text(bert + SECTION.replace("enabled: true", "enabled: false")).spec
    assert not disabled.feature_store_enabled and feature_store_arguments(disabled) == []


def test_blazingtext_with_a_feature_store_is_an_error(example_text):
    text = example_text() + SECTION
    line, message, severity = findings(text)["feature_store.enabled"]
    assert severity == "error" and line == line_of(text, "  enabled: true") and "BERT" in message
    assert "blazingtext" in message and "plain text" in message


@pytest.mark.parametrize(
    ("section", "path", "fragment"),
    [
        ("feature_store:\n  offline: true\n", "feature_store.offline_store_s3_uri", "needs an s3:// URI"),
        ("feature_store:\n  offline: false\n", "feature_store.offline", "enable the offline store"),
        (SECTION + "  record_identifier: label\n", "feature_store.record_identifier", "preprocessing step"),
        (SECTION + "  event_time: Write_Time\n", "feature_store.event_time", "offline store adds"),
        (SECTION + "  event_time: Review_ID\n", "feature_store.event_time", "differ from record_identifier"),
    ],
)
def test_cross_field_rules(bert, section, path, fragment):
    found = findings(bert + section)
    assert path in found, found
    assert found[path][2] == "error" and fragment in found[path][1]


def test_an_unused_s3_uri_is_a_warning(bert):
    text = bert + SECTION.replace("offline: true", "offline: false\n  online: true")
    found = findings(text)
    assert list(found) == ["feature_store.offline_store_s3_uri"]
    line, message, severity = found["feature_store.offline_store_s3_uri"]
    assert (line, message, severity) == (
        line_of(text, "offline_store_s3_uri"),
        "is only used with offline: true",
        "warning",
    )


@pytest.mark.parametrize(
    ("line", "path"),
    [
        ("  feature_group_name: -starts-with-a-dash\n", "feature_store.feature_group_name"),
        (f"  feature_group_name: {'a' * 65}\n", "feature_store.feature_group_name"),
        ("  feature_group_name: has space\n", "feature_store.feature_group_name"),
        ("  record_identifier: review.id\n", "feature_store.record_identifier"),
        ("  offline_store_s3_uri: https://bucket/x\n", "feature_store.offline_store_s3_uri"),
        ("  ttl: 3\n", "feature_store.ttl"),
    ],
)
def test_field_rules_are_located(bert, line, path):
    text = bert + SECTION.replace(f"  offline_store_s3_uri: {STORE}\n", "") + line
    if "offline_store_s3_uri" not in line:
        text += f"  offline_store_s3_uri: {STORE}\n"
    with pytest.raises(SpecError) as info:
        load_spec_text(text)
    issues = {i.path: i for i in info.value.issues}
    assert path in issues, issues
    assert issues[path].line == line_of(text, line.strip())


def test_the_longest_valid_group_name_is_accepted(bert):
    name = "a" + "-b" * 31 + "c"  # 64 characters
    assert len(name) == 64
    assert load_spec_text(bert + SECTION + f"  feature_group_name: {name}\n").spec.feature_group_name == name
