"""The AutoML leaderboard: every candidate's family, hyperparameters, objective and time, as CSV,
Markdown and a bar chart (Autopilot's candidate list, ListCandidatesForAutoMLJob, on this machine)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .search import Candidate, SearchResult

COLUMNS = ("rank", "candidate", "family", "objective", "value", "seconds", "status", "hyperparameters")


def ranked(result: SearchResult) -> list[Candidate]:
    """Scored candidates best first (ties in training order), then the ones that failed or ran out of time."""
    scored = [c for c in result.candidates if c.score is not None]
    scored.sort(key=lambda c: -(c.score or 0.0))  # a stable sort keeps the earlier of equal scores first
    return scored + [c for c in result.candidates if c.score is None]


def rows(result: SearchResult) -> list[dict[str, str]]:
    return [
        {
            "rank": str(rank) if c.score is not None else "",
            "candidate": c.name,
            "family": c.family,
            "objective": result.objective,
            "value": f"{c.score:.6f}" if c.score is not None else "",
            "seconds": f"{c.seconds:.2f}",
            "status": c.status if not c.error else f"{c.status}: {c.error}",
            "hyperparameters": json.dumps(c.params, sort_keys=True),
        }
        for rank, c in enumerate(ranked(result), start=1)
    ]


def write_leaderboard(result: SearchResult, folder: Path) -> list[Path]:
    """leaderboard.csv, leaderboard.md and leaderboard.png in ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    table = rows(result)
    csv_path = folder / "leaderboard.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(table)
    md_path = folder / "leaderboard.md"
    lines = [
        f"# AutoML leaderboard ({result.objective} on the validation split)",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "| " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    lines += ["| " + " | ".join(row[c].replace("|", "\\|") for c in COLUMNS) + " |" for row in table]
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    png_path = folder / "leaderboard.png"
    plot_leaderboard(result, png_path)
    return [csv_path, md_path, png_path]


def plot_leaderboard(result: SearchResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["text.parse_math"] = False
    scored = [c for c in ranked(result) if c.score is not None]
    families = sorted({c.family for c in scored})
    colours = {family: plt.cm.tab10(i % 10) for i, family in enumerate(families)}
    fig, ax = plt.subplots(figsize=(7, 0.45 * max(len(scored), 2) + 1.5))
    names = [f"{c.name} ({c.family})" for c in scored][::-1]
    values = [c.score or 0.0 for c in scored][::-1]
    ax.barh(names, values, color=[colours[c.family] for c in scored][::-1])
    for y, (value, candidate) in enumerate(zip(values, scored[::-1], strict=True)):
        ax.text(value, y, f" {value:.4f}  {candidate.seconds:.1f} s", va="center", fontsize=8)
    low = min(values, default=0.0)
    ax.set_xlim(max(0.0, low - 0.1), min(1.0, max(values, default=1.0) + 0.12))
    ax.set_xlabel(f"{result.objective} (validation)")
    ax.set_title("AutoML candidates")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
