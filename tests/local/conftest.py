"""Fixtures for `sagespec local run`: generated projects on a real sample of the reviews data.

The suite runs with --import-mode=importlib, so test modules reach the helpers below through the
``helpers`` fixture rather than by importing this file.
"""

from __future__ import annotations

import contextlib
import copy
import io
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data" / "womens_clothing_ecommerce_reviews.csv"
SPECS = REPO / "specs"
SAMPLE_ROWS = 4000
SAMPLE_SEED = 7

# Thresholds the 4,000-row sample passes (the smallest product classes make CI close to 1).
PASSING_BIAS_METRICS = {
    "CI": {"threshold": 0.9999},
    "DPL": {"threshold": 0.9},
    "KL": {"threshold": 5.0},
    "JS": {"threshold": 0.6},
}


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def run_cli(argv: list[str]) -> CliResult:
    """`sagespec <argv>` in this process, with the `local` group registered, output captured."""
    from sagespec import cli

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "_EXTENSIONS", [cli.register_local_group])
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(argv)
    return CliResult(code, out.getvalue(), err.getvalue())


def load_example(name: str) -> dict[str, Any]:
    return YAML(typ="safe").load((SPECS / name).read_text())


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and not key.endswith("!"):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key.rstrip("!")] = copy.deepcopy(value)
    return merged


def blazingtext_spec(**overrides: Any) -> dict[str, Any]:
    """The BlazingText example spec, made small and fast for the sample: 20k hash buckets, 50 dimensions,
    a learning rate that learns from ~1,000 training texts, bias thresholds the sample passes."""
    spec = load_example("womens-clothing-blazingtext.yaml")
    spec = deep_merge(
        spec,
        {
            "dataset": {"source": "reviews.csv"},
            "bias": {"metrics!": PASSING_BIAS_METRICS},
            "model": {
                "hyperparameters": {
                    "buckets": 20000,
                    "vector_dim": 50,
                    "learning_rate": 0.5,
                    "epochs": 8,
                    "min_epochs": 5,
                    "patience": 2,
                }
            },
            "evaluation": {"threshold": 0.4},
        },
    )
    return deep_merge(spec, overrides)


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    with path.open("w") as fh:
        yaml.dump(data, fh)
    return path


def make_project(workdir: Path, spec: dict[str, Any], data_file: Path, name: str = "proj") -> Path:
    """Write ``spec`` (dataset.source = the data file's name) beside a copy of ``data_file`` and
    generate the project into ``workdir/name`` with sagespec's renderer."""
    from sagespec.render import render_project
    from sagespec.spec import load_spec

    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(data_file, workdir / Path(spec["dataset"]["source"]).name)
    spec_path = write_yaml(workdir / f"{name}-spec.yaml", spec)
    project = workdir / name
    render_project(load_spec(spec_path)).write(project)
    return project


def copy_project(project: Path, target: Path) -> Path:
    """A copy of a generated project including its .sagespec-runs (so its finished steps can be reused)."""
    shutil.copytree(project, target, symlinks=True)
    return target


def edit_spec(project: Path, **overrides: Any) -> None:
    path = project / "spec.yaml"
    data = YAML(typ="safe").load(path.read_text())
    write_yaml(path, deep_merge(data, overrides))


def source_files(project: Path) -> dict[str, bytes]:
    """Every file of the project outside .sagespec-runs, with its content."""
    return {
        p.relative_to(project).as_posix(): p.read_bytes()
        for p in sorted(project.rglob("*"))
        if p.is_file()
        and ".sagespec-runs" not in p.relative_to(project).parts
        and "__pycache__" not in p.parts
    }


def latest_run(project: Path) -> Path:
    runs = sorted(p for p in (project / ".sagespec-runs").iterdir() if p.is_dir() and p.name[0].isdigit())
    return runs[-1]


def save_wordpiece_tokenizer(
    folder: Path, texts: list[str], vocab_size: int, model_max_length: int | None = None
) -> Any:
    """Train a BERT-style WordPiece tokenizer on ``texts`` and save it to ``folder`` as a fast tokenizer
    (tokenizer.json among its files, as a hub model has). Returns the PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wordpiece.train_from_iterator(
        texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials)
    )
    cls, sep = wordpiece.token_to_id("[CLS]"), wordpiece.token_to_id("[SEP]")
    wordpiece.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    wordpiece.decoder = decoders.WordPiece()
    limit = {"model_max_length": model_max_length} if model_max_length else {}
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=wordpiece,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        **limit,
    )
    tokenizer.save_pretrained(folder)
    return tokenizer


@pytest.fixture(scope="session")
def sample_csv(tmp_path_factory) -> Path:
    """A real 4,000-row sample of the reviews data, written as pandas writes it (index column first)."""
    import pandas as pd

    frame = pd.read_csv(DATA, index_col=0)
    path = tmp_path_factory.mktemp("data") / "reviews.csv"
    frame.sample(n=SAMPLE_ROWS, random_state=SAMPLE_SEED).to_csv(path)
    return path


@dataclass
class FinishedRun:
    project: Path
    run_dir: Path
    result: CliResult
    files_before: dict[str, bytes]  # the generated tree before the run


@pytest.fixture(scope="session")
def blazingtext_run(tmp_path_factory, sample_csv) -> FinishedRun:
    """The BlazingText example generated and run once end to end (shared: reruns go to copies)."""
    workdir = tmp_path_factory.mktemp("blazingtext")
    project = make_project(workdir, blazingtext_spec(), sample_csv)
    before = source_files(project)
    result = run_cli(["local", "run", str(project)])
    assert result.code == 0, result.text
    return FinishedRun(project, latest_run(project), result, before)


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    return SimpleNamespace(
        REPO=REPO,
        DATA=DATA,
        SAMPLE_ROWS=SAMPLE_ROWS,
        PASSING_BIAS_METRICS=PASSING_BIAS_METRICS,
        run_cli=run_cli,
        load_example=load_example,
        deep_merge=deep_merge,
        blazingtext_spec=blazingtext_spec,
        write_yaml=write_yaml,
        make_project=make_project,
        copy_project=copy_project,
        edit_spec=edit_spec,
        latest_run=latest_run,
        source_files=source_files,
        save_wordpiece_tokenizer=save_wordpiece_tokenizer,
    )
