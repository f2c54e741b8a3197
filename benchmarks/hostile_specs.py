"""How long sagespec takes to refuse a hostile spec, beside the time it takes to load a valid one.

Each row is the best of three runs, in CPU seconds: the example spec (the baseline), an alias bomb that
would expand to 10**9 values, nesting 5,000 levels deep (flow) and 300 (block), a spec of 256 KiB of comments,
and a spec just over the size limit. Every hostile one must end in a located error in well under a second.

    python benchmarks/hostile_specs.py
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sagespec.errors import SagespecError
from sagespec.spec import load_spec, load_spec_text
from sagespec.spec.reading import MAX_SPEC_BYTES

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "specs" / "womens-clothing-blazingtext.yaml"


def alias_bomb(fan_out: int, levels: int) -> str:
    lines = ['a0: &a0 ["x"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan_out) + "]")
    return "spec_version: 1\n" + "\n".join(lines) + "\n"


def best_of_three(load: Callable[[], object]) -> tuple[float, str]:
    times, outcome = [], ""
    for _ in range(3):
        start = time.process_time()
        try:
            load()
            outcome = "valid"
        except SagespecError as exc:
            outcome = str(exc).splitlines()[-1].strip()[:70]
        times.append(time.process_time() - start)
    return min(times), outcome


def main() -> None:
    example = EXAMPLE.read_text()
    cases: dict[str, Callable[[], object]] = {
        "example spec (baseline)": lambda: load_spec(EXAMPLE),
        "alias bomb (10**9 values)": lambda: load_spec_text(alias_bomb(10, 9)),
        "flow nesting 5,000 deep": lambda: load_spec_text("a: " + "[" * 5000 + "]" * 5000 + "\n"),
        "block nesting 300 deep": lambda: load_spec_text(
            "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "x: 1\n"
        ),
        "256 KiB of comments": lambda: load_spec_text(
            example + "# " + "x" * 76 + "\n" * ((MAX_SPEC_BYTES - len(example)) // 80)
        ),
    }
    print(f"{'case':<28} {'CPU s':>7}  outcome")
    for name, load in cases.items():
        seconds, outcome = best_of_three(load)
        print(f"{name:<28} {seconds:7.3f}  {outcome}")


if __name__ == "__main__":
    main()
