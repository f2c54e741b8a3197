"""The PyTorch BERT training script a `framework: pytorch` project gets as pipelines/<pkg>/train.py
(template/pipelines/__pkg__/train_pytorch.py, copied unchanged) and the modules it imports from beside it
(token_batches.py, text_classifier.py, training_loop.py), run on the CPU with a tiny model."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagespec.spec.catalog import BERT_PYTORCH

from .conftest import import_beside
from .smdebug_env import DEBUG_TENSORS, read_trial

pytest.importorskip("torch")
pytest.importorskip("transformers")

PACKAGE = Path(__file__).resolve().parents[1] / "template" / "pipelines" / "__pkg__"
SCRIPT = PACKAGE / "train_pytorch.py"
# What train.py imports from beside it, generated under these names too.
TRAINING_MODULES = (
    "token_arrays_format.py",
    "token_batches.py",
    "checkpoint_pooling.py",
    "text_classifier.py",
    "training_loop.py",
)
CLASSES = ["negative", "neutral", "positive"]
TEXTS = {
    0: ["awful fabric, returned it", "too small and cheap", "bad fit, poor quality", "the seams ripped"],
    1: ["it is fine i guess", "okay for the price", "average dress, nothing special", "not bad not great"],
    2: ["love this dress", "perfect fit and lovely color", "great quality, very happy", "beautiful and soft"],
}


def _load(name: str) -> ModuleType:
    return import_beside(PACKAGE / name, f"_template_{Path(name).stem}")


train_pytorch = _load("train_pytorch.py")
token_batches, text_classifier, trainer = (
    _load("token_batches.py"),
    _load("text_classifier.py"),
    _load("training_loop.py"),
)


def _package(folder: Path, *extra: Path) -> Path:
    """train.py as a project has it, with its modules (and ``extra`` files) beside it; its path."""
    folder.mkdir(parents=True)
    shutil.copy2(SCRIPT, folder / "train.py")
    for path in (*(PACKAGE / name for name in TRAINING_MODULES), *extra):
        shutil.copy2(path, folder / path.name)
    return folder / "train.py"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BERT from a config and a WordPiece tokenizer trained on the texts: no hub, seconds."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    corpus = [t for texts in TEXTS.values() for t in texts]
    tokenizer.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tokenizer.token_to_id("[CLS]")), ("[SEP]", tokenizer.token_to_id("[SEP]"))],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    )
    config = BertConfig(
        vocab_size=len(fast), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=32, pad_token_id=fast.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def _channel(folder: Path, model: Path, copies: int = 4) -> Path:
    """What preprocess.py's token-arrays output holds: labels.json and a .npz of token ids."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    texts = [(t, label) for label, ts in TEXTS.items() for t in ts] * copies
    ids = tokenizer([t for t, _ in texts])["input_ids"]
    folder.mkdir(parents=True)
    np.savez(
        folder / "part-0.npz",
        input_ids=np.concatenate(ids).astype(np.int32),
        offsets=np.cumsum([0, *map(len, ids)]),
        labels=np.asarray([label for _, label in texts]),
    )
    (folder / "labels.json").write_text(json.dumps({"classes": CLASSES}))
    return folder


def _run(
    tmp: Path,
    model: Path,
    *args: str,
    channels: tuple[Path, Path] | None = None,
    script: Path = SCRIPT,
    environment: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    train, validation = channels or (_channel(tmp / "train", model), _channel(tmp / "validation", model, 1))
    env = os.environ | {
        "SM_MODEL_DIR": str(tmp / "model"),
        "SM_CHANNEL_TRAIN": str(train),
        "SM_CHANNEL_VALIDATION": str(validation),
        "SM_OUTPUT_DATA_DIR": str(tmp / "output"),
        "HF_HUB_OFFLINE": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "USE_TF": "0",  # a PyTorch project has no TensorFlow; this test environment does
    }
    env.update(environment or {})
    command = [sys.executable, str(script), "--pretrained_model", str(model), "--batch_size", "4",
               "--checkpoint_dir", str(tmp / "checkpoints"), *args]  # fmt: skip
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


# ---------------------------------------------------------------------------------------------- batches


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 128), min_size=1, max_size=400),
    batch_size=st.integers(1, 32),
    world_size=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_every_process_gets_as_many_full_batches_and_no_text_twice(lengths, batch_size, world_size, seed):
    lengths = np.asarray(lengths)
    shares = [
        token_batches.length_bucketed_batches(lengths, batch_size, seed, rank, world_size)
        for rank in range(world_size)
    ]
    # DDP: the same number of steps everywhere, the number train.py plans its schedule with.
    expected = token_batches.full_batches_per_process(len(lengths), batch_size, world_size)
    assert [len(share) for share in shares] == [expected] * world_size
    seen = [i for share in shares for batch in share for i in batch]
    assert all(len(batch) == batch_size for share in shares for batch in share)
    assert len(seen) == len(set(seen))
    # All but the texts that cannot fill a batch (per window) or a round of processes are used.
    window = batch_size * token_batches.BUCKET_WINDOW_BATCHES
    windows = -(-len(lengths) // window)
    assert len(seen) >= len(lengths) - windows * (batch_size - 1) - (world_size - 1) * batch_size


def test_batches_hold_texts_alike_in_length_and_change_order_each_epoch():
    lengths = np.random.default_rng(0).integers(5, 128, size=3200)
    first = token_batches.length_bucketed_batches(lengths, 32, seed=1)
    spreads = [int(np.ptp(lengths[batch])) for batch in first]
    assert np.median(spreads) <= 3  # sorted inside windows of 50 batches: neighbours differ little
    assert first != token_batches.length_bucketed_batches(lengths, 32, seed=2)


def test_long_texts_are_cut_keeping_the_closing_token():
    texts = token_batches.TokenizedTexts(
        np.array([2, 5, 6, 7, 8, 3, 2, 9, 3]), np.array([0, 6, 9]), np.array([0, 1])
    ).truncated(4)
    assert texts.input_ids.tolist() == [2, 5, 6, 3, 2, 9, 3]
    batch = texts.batch([0, 1], pad_token_id=0)
    assert batch["input_ids"].shape == (2, 8)  # padded to a multiple of 8 (tensor cores)
    assert batch["attention_mask"].sum(1).tolist() == [4, 3]


def test_a_channel_of_several_parts_is_read_as_one_split_in_name_order(tmp_path):
    # preprocess.py writes one <split>-<part>.npz per part of its rows; an empty part may sit between others.
    texts = [[2, 5, 3], [2, 6, 7, 3], [2, 3], [2, 8, 9, 10, 3]]
    parts = {"train-b.npz": texts[2:], "train-a.npz": texts[:2], "train-ab.npz": []}
    for name, part in parts.items():
        np.savez(
            tmp_path / name,
            input_ids=np.asarray([token for text in part for token in text], np.int32),
            offsets=np.cumsum([0, *map(len, part)]),
            labels=np.asarray([len(text) % 3 for text in part], np.int64),
        )
    read = token_batches.TokenizedTexts.read(tmp_path, num_classes=3, max_seq_length=8)
    assert [
        read.input_ids[a:b].tolist() for a, b in zip(read.offsets[:-1], read.offsets[1:], strict=True)
    ] == texts
    assert read.labels.tolist() == [len(text) % 3 for text in texts]


def test_learning_rate_warms_up_then_decays_to_zero():
    factor = trainer.warmup_linear_decay(warmup_steps=10, total_steps=100)
    assert factor(0) == pytest.approx(0.1)
    assert factor(9) == pytest.approx(1.0)
    assert factor(55) == pytest.approx(0.5)
    assert factor(100) == 0.0


def test_early_stopping_keeps_the_best_epoch_and_stops_after_patience():
    import torch

    classifier = torch.nn.Linear(2, 2)
    run = SimpleNamespace(args=SimpleNamespace(early_stopping_patience=2), classifier=classifier)
    best: dict = {}
    assert not train_pytorch.early_stopping(run, best, 0.5, epoch=0)
    best_weight = classifier.weight.detach().clone()
    with torch.no_grad():
        classifier.weight.add_(1.0)
    assert not train_pytorch.early_stopping(run, best, 0.7, epoch=1)
    assert train_pytorch.early_stopping(run, best, 0.6, epoch=2)
    assert best["epoch"] == 0 and torch.equal(best["state"]["weight"], best_weight)


def test_a_sentence_transformers_checkpoint_keeps_its_pooling(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    pooling = _load("checkpoint_pooling.py").checkpoint_pooling
    assert pooling(str(tmp_path)) == "mean"
    assert pooling(str(tmp_path / "plain-bert")) == "cls"


def test_only_the_warning_about_unused_pooler_weights_is_dropped():
    def kept(unused: str) -> bool:
        message = (
            f"Some weights of the model checkpoint at m were not used when initializing BertModel: {unused}"
        )
        record = logging.LogRecord(
            "transformers.modeling_utils", logging.WARNING, __file__, 1, message, (), None
        )
        return text_classifier.UnusedPoolerFilter().filter(record)

    assert not kept("['pooler.dense.bias', 'pooler.dense.weight']")
    assert kept("['pooler.dense.bias', 'encoder.layer.0.output.dense.weight']")
    assert kept("['cls.predictions.bias']")


# ---------------------------------------------------------------------------------------------- whole runs


def test_a_run_prints_the_metric_lines_and_exports_what_serving_loads(tmp_path, tiny_model):
    done = _run(tmp_path, tiny_model, "--epochs", "2", "--learning_rate", "1e-3")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "were not used when initializing" not in done.stderr  # the pooler, left out on purpose
    for epoch in (1, 2):
        line = next(line for line in done.stdout.splitlines() if line.startswith(f"epoch={epoch} "))
        for metric in BERT_PYTORCH.metrics.values():  # the training job's metric definitions read them
            assert re.search(metric.regex, line), (metric.name, line)
    model = tmp_path / "model"
    for name in (
        "config.json",
        "model.safetensors",
        "classifier.safetensors",
        "tokenizer.json",
        "code/inference.py",
    ):
        assert (model / name).is_file(), name
    labels = json.loads((model / "labels.json").read_text())
    assert labels["classes"] == CLASSES and labels["pooling"] == "cls" and labels["max_seq_length"] == 128
    history = json.loads((tmp_path / "output" / "history.json").read_text())
    assert len(history["val_accuracy"]) == 2


def test_a_project_without_an_endpoint_exports_no_serving_code(tmp_path, tiny_model):
    alone = _package(tmp_path / "pkg")  # no inference.py beside it: the spec has no deployment
    done = _run(tmp_path, tiny_model, "--epochs", "1", script=alone)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "model" / "classifier.safetensors").is_file()
    assert not (tmp_path / "model" / "code").exists()


def test_with_debugger_rules_each_epochs_losses_are_where_the_rule_jobs_read_them(tmp_path, tiny_model):
    """debug_tensors.py beside train.py (the spec has Debugger rules) and the hook's folder named: smdebug
    reads each epoch's training and validation loss back, the values the metric lines print."""
    script = _package(tmp_path / "pkg", DEBUG_TENSORS)
    tensors = tmp_path / "tensors"
    environment = {"SAGESPEC_DEBUG_TENSORS_DIR": str(tensors)}
    done = _run(tmp_path, tiny_model, "--epochs", "2", script=script, environment=environment)
    assert done.returncode == 0, done.stderr[-2000:]
    trial = read_trial(tensors)
    assert trial["losses"] == ["loss"] and trial["loaded_all_steps"]
    printed = {}
    for line in done.stdout.splitlines():
        if match := re.match(r"epoch=(\d+) train:loss=(\S+) .*validation:loss=(\S+) ", line):
            epoch = int(match.group(1))
            printed[(2 * epoch - 2, "TRAIN", epoch)] = float(match.group(2))
            printed[(2 * epoch - 1, "EVAL", epoch)] = float(match.group(3))
    assert [tuple(step[:3]) for step in trial["steps"]] == list(printed)
    for step, mode, epoch, value in trial["steps"]:
        assert value == pytest.approx(printed[(step, mode, epoch)], abs=1e-4)


def test_a_restarted_spot_job_resumes_after_its_last_epoch(tmp_path, tiny_model):
    channels = (_channel(tmp_path / "train", tiny_model), _channel(tmp_path / "validation", tiny_model, 1))
    first = _run(tmp_path, tiny_model, "--epochs", "1", channels=channels)
    assert first.returncode == 0, first.stderr[-2000:]
    second = _run(tmp_path, tiny_model, "--epochs", "2", channels=channels)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "1 epoch(s) already done" in second.stdout
    assert "epoch=1 " not in second.stdout and "epoch=2 " in second.stdout


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda channel: (channel / "labels.json").unlink(), "labels.json is missing"),
        (lambda channel: [p.unlink() for p in channel.glob("*.npz")], "no .npz files"),
        (
            lambda channel: np.savez(
                channel / "part-0.npz",
                input_ids=np.array([2, 3], np.int32),
                offsets=np.array([0, 2]),
                labels=np.array([7]),
            ),  # fmt: skip
            "label indexes outside 0..2",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, tiny_model, damage, message):
    train = _channel(tmp_path / "train", tiny_model)
    damage(train)
    done = _run(tmp_path, tiny_model, channels=(train, _channel(tmp_path / "validation", tiny_model, 1)))
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "model").exists()


def test_a_batch_larger_than_the_training_split_is_refused_before_loading_the_model(tmp_path, tiny_model):
    done = _run(tmp_path, tiny_model, "--batch_size", "64")
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr == (
        "train.py: error: 48 training texts do not fill one batch of 64 per process (1 processes); "
        "lower batch_size\n"
    )


def test_a_hyperparameter_out_of_range_is_refused_before_training(tmp_path, tiny_model):
    done = _run(tmp_path, tiny_model, "--warmup_ratio", "1.5")
    assert done.returncode == 2 and "--warmup_ratio must be in [0, 1)" in done.stderr
    assert done.stderr.count("\n") == 1


def test_the_scripts_defaults_are_the_catalogs():
    """The pipeline passes every catalog hyperparameter; run by hand, the script must mean the same."""
    args = vars(train_pytorch.parse_args([]))
    for name, hyperparameter in BERT_PYTORCH.hyperparameters.items():
        assert args[name] == hyperparameter.default, name


def test_the_tensorflow_scripts_defaults_are_the_catalogs_too():
    pytest.importorskip("tensorflow")
    from sagespec.spec.catalog import BERT

    args = vars(_load("train_tensorflow.py").parse_args([]))
    for name, hyperparameter in BERT.hyperparameters.items():
        assert args[name] == hyperparameter.default, name


def test_a_checkpoint_without_a_pooler_trains_and_its_export_serves(tmp_path, tiny_model):
    """DistilBERT-family checkpoints have no pooler, so AutoModel takes no add_pooling_layer for them: the
    script and the handler load them without it (and BERT-family ones with it)."""
    from transformers import AutoConfig, BertConfig, DistilBertConfig, DistilBertModel

    distil = tmp_path / "tiny-distilbert"
    vocab_size = AutoConfig.from_pretrained(tiny_model).vocab_size
    DistilBertModel(
        DistilBertConfig(vocab_size=vocab_size, dim=16, n_layers=1, n_heads=2, hidden_dim=32)
    ).save_pretrained(distil)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny_model / name).is_file():
            shutil.copy(tiny_model / name, distil / name)
    assert text_classifier.without_pooler(DistilBertConfig()) == {}
    assert text_classifier.without_pooler(BertConfig()) == {"add_pooling_layer": False}

    done = _run(tmp_path / "run", distil, "--epochs", "1")
    assert done.returncode == 0, done.stderr[-2000:]
    spec = importlib.util.spec_from_file_location("handler_under_test", SCRIPT.with_name("inference.py"))
    assert spec and spec.loader
    handler = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = handler
    spec.loader.exec_module(handler)
    model = handler.model_fn(str(tmp_path / "run" / "model"))
    predictions = handler.predict_fn(
        handler.input_fn('{"instances": ["love this dress", "awful fit"]}'), model
    )
    assert [sorted(p["probabilities"]) for p in predictions] == [CLASSES, CLASSES]
