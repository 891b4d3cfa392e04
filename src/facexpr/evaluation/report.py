"""The evaluation report: a metric table beside the baselines, an image grid and distribution plots.

Written as ``report.html`` (opens in any browser, images referenced relatively
so the folder can be moved or zipped) and ``report.md`` (for pull requests and
notes), plus ``plots/distributions.png``.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from facexpr.evaluation.items import EvalItem  # noqa: E402
from facexpr.evaluation.scoring import METRICS  # noqa: E402
from facexpr.io import write_text_atomic  # noqa: E402

if TYPE_CHECKING:
    from facexpr.evaluation.evaluate import ModelRun

#: Per-item metrics drawn as distributions.
PLOTTED = ("psnr", "ssim", "sharpness", "id_distance", "landmark_error", "p_neutral")

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.best { font-weight: bold; background: #e8f5e9; }
.grid td { text-align: center; vertical-align: top; font-size: 0.85em; }
.grid img { width: 128px; height: 128px; image-rendering: auto; }
"""


def format_value(value: float) -> str:
    """Table text of a metric: 4 significant digits, "inf", or a dash for undefined."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4g}"


def _best_index(values: list[float], higher_is_better: bool) -> int | None:
    """Index of the best defined value, or None."""
    defined = [(v, i) for i, v in enumerate(values) if v is not None and not math.isnan(v)]
    if len(defined) < 2:
        return None
    return (max if higher_is_better else min)(defined)[1]


def metric_table(runs: Sequence["ModelRun"]) -> list[list[tuple[str, bool]]]:
    """Rows of (text, is_best) cells: header, one row per metric, then seconds per face."""
    rows = [[("metric", False)] + [(run.name, False) for run in runs]]
    for name, higher in METRICS.items():
        values = [run.summary.get(name, math.nan) for run in runs]
        best = _best_index(values, higher)
        rows.append([(name, False)] + [(format_value(v), i == best) for i, v in enumerate(values)])
    rows.append([("seconds_per_face", False)] + [(f"{run.seconds_per_face:.3g}", False) for run in runs])
    return rows


def grid_rows(items: Sequence[EvalItem], run: "ModelRun") -> list[tuple[str, int]]:
    """(label, item index) for the best, median and worst items by ``run``'s PSNR."""
    order = sorted(range(len(items)), key=lambda i: run.rows[i]["psnr"])
    picks = [("best", order[-1]), ("median", order[len(order) // 2]), ("worst", order[0])]
    seen: set[int] = set()
    return [(label, i) for label, i in picks if not (i in seen or seen.add(i))]


def plot_distributions(path: Path, runs: Sequence["ModelRun"]) -> None:
    """Histograms of the per-item metrics, one panel per metric, runs overlaid."""
    figure, axes = plt.subplots(2, 3, figsize=(13, 7))
    for axis, name in zip(axes.ravel(), PLOTTED):
        for run in runs:
            values = [row[name] for row in run.rows if math.isfinite(row[name])]
            if values:
                axis.hist(values, bins=20, alpha=0.5, label=run.name)
        axis.set_title(name)
    axes[0, 0].legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)


def _columns(runs: Sequence["ModelRun"], main_only: bool) -> list[tuple[str, str]]:
    """(header, pairs sub-folder) of the grid's image columns."""
    if main_only:
        return [("input", "input"), (f"output: {runs[0].name}", "output"), ("target", "target")]
    return [("input", "input"), *((run.name, f"output-{i}") for i, run in enumerate(runs)), ("target", "target")]


def write_report(
    out: Path,
    title: str,
    data: Path,
    split: str,
    items: Sequence[EvalItem],
    runs: Sequence["ModelRun"],
    main_only_grid: bool,
) -> None:
    """Write report.html, report.md and plots/distributions.png into ``out``."""
    plot_distributions(out / "plots" / "distributions.png", runs)
    table = metric_table(runs)
    columns = _columns(runs, main_only_grid)
    picks = grid_rows(items, runs[0])
    write_text_atomic(out / "report.html", _html(title, data, split, items, table, columns, picks, runs[0]))
    write_text_atomic(out / "report.md", _markdown(title, data, split, items, table, columns, picks))


def _html(title, data, split, items, table, columns, picks, main) -> str:
    """The HTML page."""
    e = html.escape
    head = "".join(f"<th>{e(text)}</th>" for text, _ in table[0])
    body = "".join(
        "<tr>" + "".join(f'<td class="{"best" if best else ""}">{e(text)}</td>' for text, best in row) + "</tr>"
        for row in table[1:]
    )
    grid_head = "<th></th>" + "".join(f"<th>{e(header)}</th>" for header, _ in columns)
    grid_body = "".join(
        f"<tr><td>{e(label)}<br>{e(items[i].name)}<br>PSNR {format_value(main.rows[i]['psnr'])}</td>"
        + "".join(f'<td><img src="pairs/{folder}/{e(items[i].name)}.png" alt="{e(folder)}"></td>' for _, folder in columns)
        + "</tr>"
        for label, i in picks
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{e(title)}</h1>
<p>data: <code>{e(str(data))}</code>, split: <code>{e(split)}</code>, items: {len(items)}.
Best value per metric in bold. Pixel metrics on the 8-bit crops as written; identity: dlib 128-D descriptor
(same person at distance &le; 0.6, rank-1 among the evaluated subjects' targets); landmark error: 51 inner points
over the target's inter-ocular distance; expression: FER2013 mini-Xception.</p>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<h2>Best, median and worst items by PSNR</h2>
<table class="grid"><thead><tr>{grid_head}</tr></thead><tbody>{grid_body}</tbody></table>
<h2>Per-item distributions</h2>
<img src="plots/distributions.png" alt="distributions of per-item metrics" style="max-width:100%">
</body></html>
"""


def _markdown(title, data, split, items, table, columns, picks) -> str:
    """The Markdown version of the report."""
    lines = [f"# {title}", "", f"data: `{data}`, split: `{split}`, items: {len(items)}", ""]
    lines.append("| " + " | ".join(text for text, _ in table[0]) + " |")
    lines.append("|" + "---|" * len(table[0]))
    for row in table[1:]:
        lines.append("| " + " | ".join(f"**{t}**" if best else t for t, best in row) + " |")
    lines += ["", "## Best, median and worst items by PSNR", ""]
    lines.append("| item | " + " | ".join(header for header, _ in columns) + " |")
    lines.append("|" + "---|" * (len(columns) + 1))
    for label, i in picks:
        cells = " | ".join(f"![{folder}](pairs/{folder}/{items[i].name}.png)" for _, folder in columns)
        lines.append(f"| {label}: {items[i].name} | {cells} |")
    lines += ["", "![distributions](plots/distributions.png)", ""]
    return "\n".join(lines)
