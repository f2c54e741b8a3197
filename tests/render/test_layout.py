"""Template paths map to generated paths; optional files follow the spec."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from sagespec.render import generate
from sagespec.render.layout import target_path, template_files
from sagespec.render.project import template_root
from sagespec.spec import load_spec_text

from ..conftest import SPECS


def test_target_path_conventions():
    assert target_path(PurePosixPath("pipelines/__pkg__/pipeline.py.j2"), "reviews_bt") == PurePosixPath(
        "pipelines/reviews_bt/pipeline.py"
    )
    assert target_path(PurePosixPath("dot_github/workflows/ci.yml.j2"), "p") == PurePosixPath(
        ".github/workflows/ci.yml"
    )
    assert target_path(PurePosixPath("dot_gitignore"), "p") == PurePosixPath(".gitignore")


def test_bert_only_files(example_text):
    bt = load_spec_text(example_text()).spec
    bert = load_spec_text(example_text("womens-clothing-bert.yaml")).spec
    bt_files = {f.source.as_posix() for f in template_files(template_root(), bt)}
    bert_files = {f.source.as_posix() for f in template_files(template_root(), bert)}
    assert "pipelines/__pkg__/train_tensorflow.py" in bert_files
    assert "pipelines/__pkg__/train_pytorch.py" not in bert_files  # the example trains with TensorFlow
    assert "pipelines/__pkg__/train_tensorflow.py" not in bt_files


def test_github_actions_can_be_switched_off(example_text):
    spec = load_spec_text(example_text() + "ci:\n  github_actions: {enabled: false}\n").spec
    assert not [f for f in template_files(template_root(), spec) if f.target.parts[0] == ".github"]


def _sources(text: str) -> set[str]:
    return {f.source.as_posix() for f in template_files(template_root(), load_spec_text(text).spec)}


def test_model_specific_pipeline_modules_exist_only_for_their_model(example_text):
    bt, bert = _sources(example_text()), _sources(example_text("womens-clothing-bert.yaml"))
    tuned = _sources(example_text("womens-clothing-blazingtext-tuning.yaml"))
    package = "pipelines/__pkg__/"
    assert {package + "model_blazingtext.py"} <= bt and package + "model_bert_tensorflow.py" not in bt
    assert {package + "model_bert_tensorflow.py", package + "tfrecord_format.py"} <= bert
    assert package + "model_bert_pytorch.py" not in bert
    # framework: pytorch swaps in the PyTorch variant of each (generated as model_bert.py and train.py).
    pytorch = _sources(
        example_text("womens-clothing-bert.yaml").replace(
            "  type: bert\n", "  type: bert\n  framework: pytorch\n"
        )
    )
    assert {package + "model_bert_pytorch.py", package + "train_pytorch.py"} <= pytorch
    assert not {package + "model_bert_tensorflow.py", package + "train_tensorflow.py"} & pytorch
    assert package + "model_blazingtext.py" not in bert
    assert package + "tfrecord_format.py" not in bt
    assert package + "blazingtext_format.py" in bt and package + "blazingtext_format.py" not in bert
    assert package + "tuning.py.j2" in tuned and package + "tuning.py.j2" not in bt
    # Always there: the settings rendered from the spec and the bias check step.
    for sources in (bt, bert, tuned):
        assert {package + "settings.py.j2", package + "bias_check.py"} <= sources


def test_each_project_gets_the_predictions_of_its_own_model_only(example_text):
    package = "pipelines/__pkg__/"
    scorers = {
        package + name
        for name in (
            "predict_blazingtext.py",
            "predict_autopilot.py",
            "predict_tensorflow.py",
            "predict_pytorch.py",
        )
    }
    pytorch = example_text("womens-clothing-bert.yaml").replace(
        "  type: bert\n", "  type: bert\n  framework: pytorch\n"
    )
    for text, own in [
        (example_text(), "predict_blazingtext.py"),
        (example_text("womens-clothing-autopilot.yaml"), "predict_autopilot.py"),
        (example_text("womens-clothing-bert.yaml"), "predict_tensorflow.py"),
        (pytorch, "predict_pytorch.py"),
    ]:
        sources = _sources(text)
        assert sources & scorers == {package + own}
        assert {package + "evaluate.py", package + "evaluation_inputs.py"} <= sources


def test_feature_store_ingestion_ships_only_with_a_feature_store(example_text):
    bert = example_text("womens-clothing-bert.yaml")
    assert "pipelines/__pkg__/feature_store.py" not in _sources(bert)
    with_store = bert + "feature_store:\n  offline_store_s3_uri: s3://store-bucket/features\n"
    assert "pipelines/__pkg__/feature_store.py" in _sources(with_store)


def test_step_scripts_carry_no_code_of_optional_features():
    """preprocess.py holds what every project runs; the training-format writers (BlazingText's lines,
    BERT's TFRecords) and the Feature Store ingestion are modules of their own, which it imports only where
    they are used."""
    preprocess = (template_root() / "pipelines/__pkg__/preprocess.py").read_text()
    for name in (
        "create_feature_group",
        "put_records",
        "write_offline_store",
        "write_tfrecord",
        "TFRecordWriter",
        "write_blazingtext",
        "blazingtext_tokens",
        "blazingtext_label",
    ):
        assert f"def {name}" not in preprocess and f"tf.io.{name}" not in preprocess, name
    top_level_imports = [line for line in preprocess.splitlines() if line.startswith(("import ", "from "))]
    optional = ("feature_store", "tfrecord_format", "blazingtext_format")
    assert not [line for line in top_level_imports if any(name in line for name in optional)]
    assert "__label__" not in preprocess


def test_sagespec_folder_keeps_only_what_regeneration_needs():
    """.sagespec/ holds the manifest, the base for three-way merges and the origin; the spec's JSON Schema
    (1,600 lines) is written by `make install` from the installed sagespec and ignored by git."""
    from sagespec.render import render_project
    from sagespec.spec import load_spec

    from ..conftest import SPECS

    files = render_project(load_spec(SPECS / "womens-clothing-blazingtext.yaml")).files
    assert sorted(rel for rel in files if rel.startswith(".sagespec/")) == [
        ".sagespec/base.json",
        ".sagespec/manifest.json",
        ".sagespec/origin.json",
    ]
    assert files["spec.yaml"].startswith(b"# yaml-language-server: $schema=.sagespec/spec.schema.json\n")
    assert b"-m sagespec schema > .sagespec/spec.schema.json" in files["Makefile"]
    assert b"\n.sagespec/spec.schema.json\n" in files[".gitignore"]


def test_a_pytorch_bert_project_trains_with_the_pytorch_script_as_train_py(example_text):
    text = example_text("womens-clothing-bert.yaml").replace("type: bert", "type: bert\n  framework: pytorch")
    files = {
        f.source.as_posix(): f.target.as_posix()
        for f in template_files(template_root(), load_spec_text(text).spec)
    }
    assert files["pipelines/__pkg__/train_pytorch.py"] == "pipelines/reviews_bert/train.py"
    assert "pipelines/__pkg__/train_tensorflow.py" not in files
    assert "pipelines/__pkg__/tfrecord_format.py" not in files  # TensorFlow's input format


@pytest.mark.parametrize("extra", ["", "framework: pytorch", "tuning", "monitoring"])
def test_the_generated_pipeline_module_stays_under_400_lines(example_text, tmp_path, extra):
    """pipeline.py holds the steps; constants live in settings.py, model- and tuning-specific pieces in
    modules of their own (AWS's seed pipeline.py, 294 lines, is the size to beat). The longest: Autopilot
    with both Model Monitor baselines (monitoring.py)."""
    name = {
        "tuning": "womens-clothing-blazingtext-tuning.yaml",
        "monitoring": "womens-clothing-autopilot.yaml",
    }.get(extra, "womens-clothing-bert.yaml")
    text = example_text(name)
    if extra == "monitoring":
        monitors = "monitoring:\n  data_quality: {schedule: daily}\n  model_quality: {schedule: daily}\n\n"
        text = text.replace("\nlabeling:\n", f"\n{monitors}labeling:\n")
        assert "\nmonitoring:" in text
    if extra.startswith("framework"):
        text = text.replace("  type: bert\n", f"  type: bert\n  {extra}\n")
    loaded = load_spec_text(text, SPECS / name)  # data paths are relative to the spec
    generate(loaded, tmp_path / "project")
    pipeline = tmp_path / "project" / "pipelines" / loaded.spec.project.package / "pipeline.py"
    assert len(pipeline.read_text().splitlines()) <= 400
