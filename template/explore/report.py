"""Query results -> tables (CSV and Markdown), plots (PNG) and one self-contained HTML report."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

# Report order and headings of the questions explore/queries/ ships; other queries follow by name.
TITLES = {
    "rows_per_label": "Rows per label",
    "rows_per_facet": "Rows per facet value",
    "label_share_per_facet": "Label share per facet value",
    "review_length_per_label": "Review length per label (characters)",
    "review_length_histogram": "Review length histogram",
    "missing_texts": "Missing texts per label",
    "top_facets_by_negative_share": "Facet values with the highest negative share",
}
# Facet values shown in the label-by-facet plot: the largest groups.
PLOT_FACET_VALUES = 15
NULL = "NULL"


def title(name: str) -> str:
    return TITLES.get(name, name.replace("_", " ").capitalize())


def ordered(results: dict[str, pd.DataFrame]) -> list[str]:
    known = [name for name in TITLES if name in results]
    return known + sorted(name for name in results if name not in TITLES)


def markdown_table(frame: pd.DataFrame) -> str:
    def cell(value: object) -> str:
        text = NULL if pd.isna(value) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(cell(c) for c in frame.columns) + " |",
        "|" + "|".join(" --- " for _ in frame.columns) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_tables(results: dict[str, pd.DataFrame], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in results.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
        (folder / f"{name}.md").write_text(f"# {title(name)}\n\n{markdown_table(frame)}", encoding="utf-8")


# ---------------------------------------------------------------------------------------------- plots


def _label_text(values: pd.Series) -> list[str]:
    return [NULL if pd.isna(v) else str(v) for v in values]


def plot_label_distribution(rows_per_label: pd.DataFrame, path: Path) -> None:
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.subplots()
    axes.bar(_label_text(rows_per_label["label"]), rows_per_label["row_count"])
    axes.set(title="Rows per label", xlabel="label", ylabel="rows")
    figure.savefig(path, dpi=100)


def plot_label_by_facet(label_share: pd.DataFrame, path: Path) -> None:
    """Label shares of the largest values of the first facet column, as stacked bars."""
    facet = label_share["facet"].iloc[0]
    rows = label_share[label_share["facet"] == facet].assign(label=lambda f: _label_text(f["label"]))
    shares = rows.pivot_table(index="facet_value", columns="label", values="share", fill_value=0.0)
    largest = rows.groupby("facet_value")["row_count"].sum().nlargest(PLOT_FACET_VALUES).index
    shares = shares.loc[list(reversed(largest))]
    figure = Figure(figsize=(8, 0.4 * len(shares) + 1.5), layout="constrained")
    axes = figure.subplots()
    left = pd.Series(0.0, index=shares.index)
    for label in shares.columns:
        axes.barh(shares.index.astype(str), shares[label], left=left, label=str(label))
        left += shares[label]
    axes.set(title=f"Label share by {facet}", xlabel="share of rows", xlim=(0, 1))
    axes.legend(title="label", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.savefig(path, dpi=100)


def plot_length_histogram(histogram: pd.DataFrame, path: Path) -> None:
    """Each label's length distribution as a share of its own rows, so that small classes compare."""
    rows = histogram.assign(label=lambda f: _label_text(f["label"]))
    starts = sorted(rows["length_bucket"].unique())
    width = min((b - a for a, b in zip(starts, starts[1:], strict=False)), default=1)
    buckets = range(int(starts[0]), int(starts[-1]) + int(width), int(width))
    edges = [*buckets, buckets[-1] + width]
    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.subplots()
    for label, group in rows.groupby("label"):
        counts = group.set_index("length_bucket")["row_count"].reindex(buckets, fill_value=0)
        axes.stairs(counts / counts.sum(), edges, label=str(label))
    axes.set(title="Review length by label", xlabel="length (characters)", ylabel="share of the label's rows")
    axes.legend(title="label")
    figure.savefig(path, dpi=100)


def write_plots(results: dict[str, pd.DataFrame], folder: Path) -> dict[str, Path]:
    """The plots whose query ran and returned rows: plot name -> PNG file."""
    folder.mkdir(parents=True, exist_ok=True)
    plots = {
        "label_distribution": ("rows_per_label", plot_label_distribution),
        "label_by_facet": ("label_share_per_facet", plot_label_by_facet),
        "length_histogram": ("review_length_histogram", plot_length_histogram),
    }
    written = {}
    # Labels and facet values are data: a '$' in one must not switch matplotlib into math mode.
    with matplotlib.rc_context({"text.parse_math": False}):
        for name, (query, draw) in plots.items():
            frame = results.get(query)
            if frame is not None and not frame.empty:
                written[name] = folder / f"{name}.png"
                draw(frame, written[name])
    return written


# ---------------------------------------------------------------------------------------------- HTML

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f2f2f2; }
img { max-width: 100%; display: block; margin: 0.5rem 0 1.5rem; }
"""


def html_report(
    results: dict[str, pd.DataFrame], plots: dict[str, Path], *, heading: str, source: str
) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        f"<title>{html.escape(heading)}</title>",
        f"<style>{_STYLE}</style></head>",
        "<body>",
        f"<h1>{html.escape(heading)}</h1>",
        f"<p>Source: {html.escape(source)}</p>",
    ]
    for name, path in plots.items():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        parts.append(f'<img alt="{html.escape(name)}" src="data:image/png;base64,{data}">')
    for name in ordered(results):
        parts.append(f'<h2 id="{html.escape(name)}">{html.escape(title(name))}</h2>')
        parts.append(results[name].to_html(index=False, na_rep=NULL, border=0, escape=True))
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def write_report(results: dict[str, pd.DataFrame], folder: Path, *, heading: str, source: str) -> Path:
    """tables/<query>.csv and .md, plots/*.png, and report.html (which embeds the plots) in ``folder``."""
    write_tables(results, folder / "tables")
    plots = write_plots(results, folder / "plots")
    report = folder / "report.html"
    report.write_text(html_report(results, plots, heading=heading, source=source), encoding="utf-8")
    return report
