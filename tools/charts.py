"""Charts for staff answers: PNG files drawn headless with matplotlib, served from {data_dir}/media/charts/.

A chart is named after a hash of what it shows, so asking the same question twice reuses one file.
Matplotlib's object API (Figure + the Agg canvas) is used, never pyplot: no GUI backend, no global
state shared between the threads that run tools.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MEDIA_PREFIX = "/media/"
ACCENT = "#6c4ed9"
PREVIOUS = "#b9b2cf"


@dataclass(frozen=True)
class Series:
    """What to draw: labels along the axis, values, and optionally the previous period's values."""

    title: str
    labels: Sequence[str]
    values: Sequence[float | None]
    unit: str  # money (euros), count, ratio (0..1) or ms
    trend: bool  # a line over time; otherwise horizontal bars
    previous: Sequence[float | None] | None = None


def chart_path(media: Path, series: Series) -> tuple[Path, str]:
    """Where the PNG for `series` lives, and the /media/ path channels send."""
    payload = json.dumps(
        [series.title, list(series.labels), list(series.values), series.unit, series.trend, series.previous],
        default=str,
    )
    name = hashlib.sha256(payload.encode()).hexdigest()[:20] + ".png"
    return media / "charts" / name, f"{MEDIA_PREFIX}charts/{name}"


def render(media: Path, series: Series) -> str:
    """Draw `series` as a PNG under `media` (once) and return its /media/ path."""
    path, url = chart_path(media, series)
    if path.is_file():
        return url
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    path.parent.mkdir(parents=True, exist_ok=True)
    values = [v if v is not None else float("nan") for v in series.values]
    figure = Figure(figsize=(8, 4.2) if series.trend else (8, 1.4 + 0.38 * len(values)), dpi=110)
    axes = figure.add_subplot()
    if series.trend:
        positions = list(range(len(values)))
        if series.previous is not None:
            previous = [v if v is not None else float("nan") for v in series.previous]
            axes.plot(positions, previous, color=PREVIOUS, linewidth=1.5, label="previous period")
        axes.plot(positions, values, color=ACCENT, linewidth=2.2, marker="o" if len(values) <= 31 else None)
        step = max(1, len(values) // 10)
        axes.set_xticks(positions[::step], [series.labels[i] for i in positions[::step]], rotation=30, ha="right")
        axes.set_ylim(bottom=0)
        if series.previous is not None:
            axes.legend(frameon=False)
    else:
        order = list(range(len(values)))[::-1]  # the first row on top
        axes.barh([series.labels[i] for i in order], [values[i] for i in order], color=ACCENT)
    axes.set_title(series.title, loc="left", fontsize=12)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axis = axes.yaxis if series.trend else axes.xaxis
    axis.set_major_formatter(FuncFormatter(lambda v, _: _tick(v, series.unit)))
    axes.grid(axis="y" if series.trend else "x", alpha=0.25)
    figure.tight_layout()
    partial = path.with_suffix(".tmp.png")
    figure.savefig(partial, format="png")
    partial.replace(path)  # readers never see half a file
    return url


def _tick(value: float, unit: str) -> str:
    if unit == "money":
        return f"€{value:,.0f}"
    if unit == "ratio":
        return f"{value:.0%}"
    if unit == "ms":
        return f"{value:,.0f} ms"
    return f"{value:,.0f}"
