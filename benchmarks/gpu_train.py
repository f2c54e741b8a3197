"""GPU throughput of the generated PyTorch BERT training script beside a default Hugging Face Trainer.

Both fine-tune the same BERT-base-shaped model (12 layers, hidden 768, 110M parameters; built from a
config, no hub) on the course's reviews (the full file, stars -> -1/0/1) at max_seq_length 128, with the
same per-GPU batch, for the same number of epochs, in the same run. Printed for each: samples/s, tokens/s
(tokens that are not padding) and MFU = 6 x parameters x tokens/s / the GPU's peak dense bf16 FLOP/s,
taken over the epochs after the first (the first pays for compilation and warm-up).

The script measured is the one sagespec copies into every PyTorch BERT project unchanged
(template/pipelines/__pkg__/train_pytorch.py, generated as pipelines/<pkg>/train.py, with the modules it
imports from beside it: token_batches.py, text_classifier.py, training_loop.py); it runs here
through its own train() under the same container contract (SM_CHANNEL_*, SM_MODEL_DIR).

    python benchmarks/gpu_train.py                        # on a GPU machine; needs torch, transformers,
                                                          # tokenizers (no sagespec install, no network)
    python benchmarks/gpu_train.py --tiny --rows 512      # a small model on the CPU: checks it runs
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
REVIEWS = REPO / "data" / "womens_clothing_ecommerce_reviews.csv"
SCRIPT = REPO / "template" / "pipelines" / "__pkg__" / "train_pytorch.py"
CLASSES = ["-1", "0", "1"]

# Peak dense bf16 tensor-core FLOP/s from the vendors' data sheets (SXM parts), by device-name substring.
PEAK_BF16_FLOPS = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "A10G": 125e12,
    "L4": 121e12,
}


@dataclass(frozen=True)
class Throughput:
    name: str
    seconds_per_epoch: float
    samples: int  # per epoch
    tokens: int  # per epoch, not counting padding

    def row(self, parameters: int, peak: float | None) -> str:
        samples_s = self.samples / self.seconds_per_epoch
        tokens_s = self.tokens / self.seconds_per_epoch
        mfu = f"{6 * parameters * tokens_s / peak:6.1%}" if peak else "   n/a"
        return f"{self.name:<34} {self.seconds_per_epoch:8.2f} {samples_s:10.0f} {tokens_s:12.0f} {mfu:>7}"


def load_script() -> ModuleType:
    """The script, importing its modules from beside it (token_batches.py, training_loop.py, ...) as a
    project's train.py does."""
    spec = importlib.util.spec_from_file_location("generated_train", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return module


def read_reviews(rows: int | None) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    with REVIEWS.open(newline="", encoding="utf-8") as file:
        for record in csv.DictReader(file):
            text, stars = (record["Review Text"] or "").strip(), int(record["Rating"])
            if text:
                texts.append(text)
                labels.append(0 if stars <= 2 else 1 if stars == 3 else 2)  # -1 / 0 / 1
    return texts[:rows], labels[:rows]


def make_model_dir(folder: Path, texts: list[str], tiny: bool) -> Path:
    """A BERT-base-shaped (or tiny) model from a config and a WordPiece tokenizer trained on the texts."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    vocab_size = 2_000 if tiny else 30_522
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(
        texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials)
    )
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    )
    shape = (
        dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=2, intermediate_size=128)
        if tiny
        else {}
    )
    config = BertConfig(vocab_size=len(fast), pad_token_id=fast.pad_token_id, **shape)  # defaults: BERT-base
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def write_channel(folder: Path, ids: list[list[int]], labels: list[int]) -> Path:
    """What preprocess.py's token-arrays output holds: one .npz and labels.json."""
    folder.mkdir(parents=True)
    offsets = np.cumsum([0, *map(len, ids)])
    np.savez(
        folder / "part-0.npz",
        input_ids=np.concatenate(ids).astype(np.int32),
        offsets=offsets,
        labels=np.asarray(labels, np.int64),
    )
    (folder / "labels.json").write_text(json.dumps({"classes": CLASSES}))
    return folder


def run_generated_script(
    work: Path, model_dir: Path, train: Path, validation: Path, options: argparse.Namespace
) -> tuple[Throughput, int]:
    script = load_script()
    args = script.parse_args([
        "--pretrained_model", str(model_dir),
        "--epochs", str(options.epochs),
        "--batch_size", str(options.batch_size),
        "--max_seq_length", "128",
        "--compile", str(options.compile).lower(),
        "--checkpoint_dir", str(work / "checkpoints"),
    ])  # fmt: skip
    env = script.Environment(
        model_dir=work / "model", train_dir=train, validation_dir=validation,
        output_data_dir=work / "output", job_name=None, rank=0, local_rank=0, world_size=1,
    )  # fmt: skip
    if options.profile:  # where the GPU time goes, kernel by kernel (the timings below are then inflated)
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as profiler:
            summary = script.train(args, env)
        print(
            profiler.key_averages().table(sort_by="cuda_time_total", row_limit=25, max_name_column_width=70)
        )
    else:
        summary = script.train(args, env)
    steady = summary.epochs[1:] or summary.epochs
    seconds = sum(e.train_seconds for e in steady) / len(steady)
    name = f"generated train.py ({summary.precision}{', compiled' if options.compile else ''})"
    return Throughput(name, seconds, steady[0].train_texts, steady[0].train_tokens), summary.parameters


def run_hf_trainer(
    work: Path, model_dir: Path, ids: list[list[int]], labels: list[int], options: argparse.Namespace
) -> Throughput:
    """Hugging Face Trainer with its defaults: AdamW, linear schedule, padding per batch (no bucketing)."""
    from transformers import (
        AutoModelForSequenceClassification,
        DataCollatorWithPadding,
        PreTrainedTokenizerFast,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    tokenizer = PreTrainedTokenizerFast.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=len(CLASSES))
    dataset = [
        {"input_ids": i, "attention_mask": [1] * len(i), "labels": y}
        for i, y in zip(ids, labels, strict=True)
    ]
    epoch_seconds: list[float] = []

    class EpochClock(TrainerCallback):
        def on_epoch_begin(self, *_args: object, **_kwargs: object) -> None:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.started = time.perf_counter()

        def on_epoch_end(self, *_args: object, **_kwargs: object) -> None:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            epoch_seconds.append(time.perf_counter() - self.started)

    arguments = TrainingArguments(
        output_dir=str(work / "hf"), per_device_train_batch_size=options.batch_size,
        num_train_epochs=options.epochs, bf16=torch.cuda.is_available(), save_strategy="no",
        logging_strategy="no", report_to="none", disable_tqdm=True, use_cpu=not torch.cuda.is_available(),
    )  # fmt: skip
    collator = DataCollatorWithPadding(tokenizer)
    Trainer(
        model=model, args=arguments, train_dataset=dataset, data_collator=collator, callbacks=[EpochClock()]
    ).train()
    steady = epoch_seconds[1:] or epoch_seconds
    tokens = sum(len(i) for i in ids)
    return Throughput("Hugging Face Trainer (defaults, bf16)", sum(steady) / len(steady), len(ids), tokens)


def peak_flops(override: float | None) -> float | None:
    if override:
        return override * 1e12
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((peak for key, peak in PEAK_BF16_FLOPS.items() if key in name), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256, help="per GPU, both runs")
    parser.add_argument("--rows", type=int, default=None, help="use only the first N reviews")
    parser.add_argument("--tiny", action="store_true", help="a 2-layer model instead of BERT-base")
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--no-hf", dest="hf", action="store_false", help="skip the Trainer run")
    parser.add_argument("--profile", action="store_true", help="print the top GPU kernels (slows the run)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the GPU's peak dense bf16 TFLOP/s")
    options = parser.parse_args()
    import transformers

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"device: {device}; torch {torch.__version__}, transformers {transformers.__version__}")

    texts, labels = read_reviews(options.rows)
    with tempfile.TemporaryDirectory(prefix="gpu-train-") as tmp:
        work = Path(tmp)
        model_dir = make_model_dir(work / "pretrained", texts, options.tiny)
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        ids = tokenizer(texts, truncation=True, max_length=128)["input_ids"]
        held_out = max(1, len(ids) // 20)  # a small validation channel: the script evaluates every epoch
        train = write_channel(work / "train", ids[held_out:], labels[held_out:])
        validation = write_channel(work / "validation", ids[:held_out], labels[:held_out])
        mean_tokens = sum(map(len, ids)) / len(ids)
        print(f"reviews: {len(ids)} ({len(ids) - held_out} trained on), {mean_tokens:.1f} tokens on average")

        generated, parameters = run_generated_script(
            work / "generated", model_dir, train, validation, options
        )
        rows = [generated]
        if options.hf:
            try:
                rows.append(run_hf_trainer(work, model_dir, ids[held_out:], labels[held_out:], options))
            except Exception as err:  # noqa: BLE001 - report the baseline's failure, keep the figures we have
                print(f"Hugging Face Trainer run failed: {type(err).__name__}: {err}", file=sys.stderr)

    peak = peak_flops(options.peak_tflops)
    print(
        f"\nparameters: {parameters / 1e6:.1f}M; batch {options.batch_size}; epochs {options.epochs} "
        f"(figures over epochs 2-{options.epochs}); peak bf16 {peak / 1e12 if peak else math.nan:.0f} TFLOP/s"
    )
    print(f"{'run':<34} {'s/epoch':>8} {'samples/s':>10} {'tokens/s':>12} {'MFU':>7}")
    for row in rows:
        print(row.row(parameters, peak))
    if len(rows) == 2:
        print(f"speed-up over the Trainer: {rows[1].seconds_per_epoch / rows[0].seconds_per_epoch:.2f}x")


if __name__ == "__main__":
    main()
