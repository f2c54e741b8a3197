"""The CheckDataBias step, locally: pre-training bias metrics with smclarify (open-source Clarify).

On SageMaker this step is a ClarifyCheckStep running the managed Clarify container on PreprocessData's
``bias`` output: headerless ``bias-<part>.csv`` files whose columns are ``Spec.bias_columns`` (a ``label``
column of class labels, the facet columns, then the group column). Here the same metrics come from
``smclarify.bias.report.bias_report`` over all the parts, read in name order. A value breaches its
threshold when ``|value| > threshold``; breaches stop the run when ``bias.fail_on_violation`` is set.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import json
import logging
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataError, LocalRunError

if TYPE_CHECKING:
    import pandas as pd

    from ..spec.models import Bias

LABEL_COLUMN = "label"
REPORT_FILE = "report.json"
CHART_FILE = "bias-report.png"


@dataclass(frozen=True)
class BiasCheck:
    """The spec's bias section as the check reads it: plain values, so that the check's own process
    (local/bias_job.py) starts without pydantic and the spec models (0.2 s of its start)."""

    thresholds: dict[str, float]  # metric name -> its threshold, in the spec's order
    positive_labels: tuple[str, ...]
    facets: tuple[tuple[str, tuple[str, ...]], ...]  # (column, the sensitive group's values; none: each)
    group_column: str | None = None
    fail_on_violation: bool = True

    @classmethod
    def of(cls, bias: Bias) -> BiasCheck:
        return cls(
            thresholds={name: metric.threshold for name, metric in bias.metrics.items()},
            positive_labels=tuple(str(label) for label in bias.positive_labels),
            facets=tuple((f.column, tuple(str(v) for v in f.values)) for f in bias.facets),
            group_column=bias.group_column,
            fail_on_violation=bias.fail_on_violation,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> BiasCheck:
        data = json.loads(text)
        return cls(
            thresholds={str(k): float(v) for k, v in data["thresholds"].items()},
            positive_labels=tuple(data["positive_labels"]),
            facets=tuple((column, tuple(values)) for column, values in data["facets"]),
            group_column=data["group_column"],
            fail_on_violation=bool(data["fail_on_violation"]),
        )


@dataclass(frozen=True)
class BiasValue:
    facet: str
    value: str  # the facet value (or comma-joined group of values) compared with the rest
    metric: str
    result: float | None
    threshold: float
    error: str | None = None

    @property
    def breach(self) -> bool:
        if self.result is None:
            return False
        return not math.isfinite(self.result) or abs(self.result) > self.threshold


@dataclass(frozen=True)
class BiasResult:
    values: tuple[BiasValue, ...]
    rows: int
    dropped_rows: dict[str, int]  # facet column -> rows without a value (left out of that facet)
    report: Path
    chart: Path | None

    @property
    def breaches(self) -> list[BiasValue]:
        return [v for v in self.values if v.breach]

    @property
    def errors(self) -> list[BiasValue]:
        return [v for v in self.values if v.error]


def format_value(result: float | None) -> str:
    if result is None:
        return "n/a"
    return f"{result:+.4f}" if math.isfinite(result) else str(result)


def breach_lines(breaches: list[BiasValue]) -> list[str]:
    return [
        f"{b.facet}={b.value}: {b.metric} = {format_value(b.result)}, |value| > threshold {b.threshold:g}"
        for b in breaches
    ]


class BiasViolation(LocalRunError):
    """Pre-training bias metrics breached their thresholds with fail_on_violation set."""

    def __init__(self, breaches: list[BiasValue], report: Path):
        self.breaches = breaches
        self.report = report
        count = len(breaches)
        lines = [
            f"CheckDataBias: {count} bias metric value{'s' if count != 1 else ''} breached the threshold "
            f"(bias.fail_on_violation is true; the ClarifyCheckStep would fail):"
        ]
        lines += [f"  {line}" for line in breach_lines(breaches)]
        lines.append(f"  report: {report}")
        super().__init__("\n".join(lines))


def bias_parts(bias_dir: Path) -> list[Path]:
    """Every CSV part of the bias output, sorted by name (a project generated before issue 21 wrote one
    ``bias.csv``, which is one part too)."""
    parts = sorted(bias_dir.glob("*.csv")) if bias_dir.is_dir() else []
    if not parts:
        raise DataError(f"CheckDataBias: no .csv files in {bias_dir} (PreprocessData's 'bias' output)")
    return parts


def _starts_with_header(path: Path, columns: Sequence[str]) -> bool:
    """Whether the file's first row is the column names (the headered bias.csv of earlier projects)."""
    with path.open(newline="", encoding="utf-8") as handle:
        first = next(csv.reader(handle), None)
    return first == list(columns)


def read_bias_table(bias_dir: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """All bias parts as one table of strings ("" -> missing). ``columns``: the names of the headerless
    parts' columns (Spec.bias_columns); a part whose first row is those names has a header and skips it.
    Without ``columns`` every part must carry its own header row."""
    import pandas as pd  # local: heavy

    frames = []
    for path in bias_parts(bias_dir):
        if path.stat().st_size == 0:  # a part without rows: nothing to read, not even a header
            continue
        headered = columns is None or _starts_with_header(path, columns)
        try:
            frame = pd.read_csv(
                path, header=0 if headered else None, dtype=str, keep_default_na=False, na_values=[""]
            )
        except (ValueError, UnicodeDecodeError) as err:  # pandas' ParserError is a ValueError
            raise DataError(f"CheckDataBias: cannot read {path}: {str(err).strip()}") from None
        if columns is not None:
            if len(frame.columns) != len(columns):
                raise DataError(
                    f"CheckDataBias: {path} has {len(frame.columns)} columns, not the {len(columns)} "
                    f"of {list(columns)}"
                )
            frame.columns = list(columns)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=list(columns or [LABEL_COLUMN]), dtype=str)
    return pd.concat(frames, ignore_index=True)


def _as_float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _json_number(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return "Infinity" if value > 0 else "-Infinity"


def compute_bias(
    bias_dir: Path, bias: BiasCheck, out_dir: Path, columns: Sequence[str] | None = None, chart: bool = True
) -> BiasResult:
    """Compute every configured metric for every facet; write report.json and the chart into ``out_dir``.

    ``columns``: the bias parts' column names (Spec.bias_columns); see read_bias_table. ``chart=False``
    leaves the chart to the caller (:func:`chart_drawer`); the result names the file it will be.
    """
    from smclarify.bias.report import FacetColumn, LabelColumn, StageType, bias_report

    df = read_bias_table(bias_dir, columns)
    source = f"the bias output {bias_dir}"
    if LABEL_COLUMN not in df.columns:
        raise DataError(
            f"CheckDataBias: {source} has no '{LABEL_COLUMN}' column (columns: {list(df.columns)})"
        )
    if df.empty:
        raise DataError(f"CheckDataBias: {source} has no rows")
    metrics = list(bias.thresholds)
    if not metrics:
        raise LocalRunError("CheckDataBias: bias.metrics is empty; nothing to check")
    positive = list(bias.positive_labels)
    if not positive:
        raise LocalRunError(
            "CheckDataBias: bias.positive_labels is empty; Clarify needs the positive outcome"
        )
    group = None
    if bias.group_column:
        if bias.group_column not in df.columns:
            raise DataError(f"CheckDataBias: {source} has no group column '{bias.group_column}'")
        group = bias.group_column
    elif "CDDL" in metrics:
        raise LocalRunError("CheckDataBias: CDDL needs bias.group_column")

    values: list[BiasValue] = []
    dropped: dict[str, int] = {}
    facets_report: dict[str, list[dict[str, Any]]] = {}
    for column, group_values in bias.facets:
        if column not in df.columns:
            raise DataError(f"CheckDataBias: {source} has no facet column '{column}'")
        keep = df[column].notna() & df[LABEL_COLUMN].notna()
        dropped[column] = int((~keep).sum())
        # Both as categories: class labels and facet values are categories, and smclarify would otherwise
        # guess from the data (a small table of labels "-1", "0", "1" passes for a continuous column).
        frame = df.loc[keep, [LABEL_COLUMN, column]].reset_index(drop=True).astype("category")
        group_series = df.loc[keep, group].reset_index(drop=True) if group else None
        sensitive = list(group_values) or None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logger = logging.getLogger("smclarify")
            level = logger.level
            logger.setLevel(logging.CRITICAL)
            try:
                report = bias_report(
                    frame,
                    FacetColumn(column, sensitive),
                    # a copy: smclarify converts the list in place to the label column's dtype
                    LabelColumn(LABEL_COLUMN, frame[LABEL_COLUMN], list(positive)),
                    StageType.PRE_TRAINING,
                    metrics=metrics,
                    group_variable=group_series,
                )
            except (ValueError, RuntimeError) as exc:
                raise LocalRunError(
                    f"CheckDataBias: smclarify could not compute facet '{column}': {exc}"
                ) from None
            finally:
                logger.setLevel(level)
        facets_report[column] = []
        for entry in report:
            label = str(entry["value_or_threshold"])
            metric_rows = []
            for metric in entry["metrics"]:
                name = metric["name"]
                result = _as_float(metric.get("value"))
                error = metric.get("error")
                if result is None and not error:
                    error = "not computed"
                bv = BiasValue(column, label, name, result, bias.thresholds[name], error)
                values.append(bv)
                metric_rows.append(
                    {
                        "name": name,
                        "description": metric.get("description", ""),
                        "value": _json_number(result),
                        **({"error": str(error)} if error else {}),
                    }
                )
            facets_report[column].append({"value_or_threshold": label, "metrics": metric_rows})

    result = BiasResult(tuple(values), len(df), dropped, out_dir / REPORT_FILE, None)
    out_dir.mkdir(parents=True, exist_ok=True)
    document = {
        "version": "1.0",
        "source": str(bias_dir),
        "rows": len(df),
        "rows_without_facet_value": dropped,
        "pre_training_bias_metrics": {
            "label": LABEL_COLUMN,
            "label_value_or_threshold": ",".join(positive),
            "facets": facets_report,
        },
        "thresholds": dict(bias.thresholds),
        "fail_on_violation": bias.fail_on_violation,
        "constraint_violations": [{**asdict(b), "result": _json_number(b.result)} for b in result.breaches],
    }
    result.report.write_text(json.dumps(document, indent=2) + "\n")
    if not chart:
        return BiasResult(result.values, result.rows, dropped, result.report, out_dir / CHART_FILE)
    return BiasResult(
        result.values, result.rows, dropped, result.report, write_chart(result, out_dir / CHART_FILE)
    )


def chart_drawer(result: BiasResult, out_dir: Path) -> Callable[[], Path | None]:
    """What draws ``result``'s chart into ``out_dir``, to be called later (on another thread).

    A missing matplotlib fails the step here, as drawing the chart inside the step would. It is only
    looked for, not imported: importing pyplot takes 0.5 s, which the drawing thread spends while
    training runs (on a core that one-thread fastText leaves idle) rather than before training starts.
    """
    if importlib.util.find_spec("matplotlib") is None:
        raise ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")
    return functools.partial(write_chart, result, out_dir / CHART_FILE)


def load_result(out_dir: Path, bias: BiasCheck) -> BiasResult:
    """Read a finished report.json back (a cached CheckDataBias step)."""
    document = json.loads((out_dir / REPORT_FILE).read_text())
    values = []
    for facet, entries in document["pre_training_bias_metrics"]["facets"].items():
        for entry in entries:
            for metric in entry["metrics"]:
                raw = metric.get("value")
                result = None if raw is None else float(raw)  # "Infinity" parses too
                values.append(
                    BiasValue(
                        facet,
                        entry["value_or_threshold"],
                        metric["name"],
                        result,
                        bias.thresholds[metric["name"]],
                        metric.get("error"),
                    )
                )
    chart = out_dir / CHART_FILE
    return BiasResult(
        tuple(values),
        document["rows"],
        document.get("rows_without_facet_value", {}),
        out_dir / REPORT_FILE,
        chart if chart.is_file() else None,
    )


def write_chart(result: BiasResult, path: Path) -> Path | None:
    """One horizontal bar chart per (facet, metric): a bar per facet value, the thresholds dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: dict[tuple[str, str], list[BiasValue]] = {}
    for v in result.values:
        panels.setdefault((v.facet, v.metric), []).append(v)
    if not panels:
        return None
    rows = max(len(vs) for vs in panels.values())
    panel_height = max(2.0, 0.28 * rows + 1.2)
    width, height = 8.0, panel_height * len(panels)
    # Margins in inches, from the longest facet value (tick labels at 8 pt are about 0.07 in a character):
    # fixed margins instead of tight_layout, which draws the whole figure once more just to measure it.
    longest = max(len(v.value) for v in result.values)
    left, top, bottom = min(0.45 * width, 0.3 + 0.07 * longest), 0.45, 0.35
    # Facet values are data: a '$' in one must not switch matplotlib into math mode.
    with plt.rc_context({"text.parse_math": False}):
        fig, axes = plt.subplots(len(panels), 1, figsize=(width, height), squeeze=False)
        fig.subplots_adjust(
            left=left / width,
            right=1 - 0.25 / width,
            top=1 - top / height,
            bottom=bottom / height,
            hspace=(top + bottom) / (panel_height - top - bottom),
        )
        for ax, ((facet, metric), vs) in zip(axes[:, 0], panels.items(), strict=True):
            names = [v.value for v in vs]
            heights = [v.result if v.result is not None and math.isfinite(v.result) else 0.0 for v in vs]
            colors = ["#c0392b" if v.breach else "#2e86c1" for v in vs]
            ax.barh(names, heights, color=colors)
            threshold = vs[0].threshold
            for x in (threshold, -threshold):
                ax.axvline(x, color="#7f8c8d", linestyle="--", linewidth=1)
            ax.set_title(f"{metric} by {facet} (threshold ±{threshold:g}; red = breach)", fontsize=10)
            ax.tick_params(axis="y", labelsize=8)
            ax.invert_yaxis()
        fig.savefig(path, dpi=90)
        plt.close(fig)
    return path


__all__ = [
    "BiasResult",
    "BiasValue",
    "BiasViolation",
    "breach_lines",
    "chart_drawer",
    "compute_bias",
    "load_result",
    "write_chart",
]
