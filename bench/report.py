"""Turn the runs into medians and ratios: a markdown table and a PNG chart.

A run is one server on one workload (one process start, warm-up, measured window). The
table gives, per workload and server, the median over the repeats of every figure, the
ratio of each headline figure to the reference server's median (picows by default), and the
load generator's CPU use, so a saturated generator is visible next to the figure it limits.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CEILING = "rawtcp"  # the raw TCP echo: a bound, not a competitor


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    fmt: str  # format spec for the value
    higher_is_better: bool = True
    ratio: bool = False  # shown as a ratio to the reference server


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    metrics: tuple[Metric, ...]

    def chart_metrics(self) -> list[Metric]:
        return [metric for metric in self.metrics if metric.ratio]


def workloads(idle: int, subscribers: int) -> dict[str, Workload]:
    return {
        "a": Workload(
            "a",
            "(a) 1 connection ping-pong, 32-byte text",
            (
                Metric("round_trips_per_s", "round trips/s", ",.0f", ratio=True),
                Metric("p50_us", "p50 µs", ".1f", higher_is_better=False),
                Metric("p99_us", "p99 µs", ".1f", higher_is_better=False),
            ),
        ),
        "b": Workload(
            "b",
            "(b) 64 connections x 16 messages in flight, 32-byte text",
            (
                Metric("messages_per_s", "messages/s", ",.0f", ratio=True),
                Metric("server_cpu_us_per_msg", "server CPU µs/msg", ".2f", False),
            ),
        ),
        "c": Workload(
            "c",
            "(c) 4 connections echoing 1 MiB binary",
            (Metric("mb_per_s", "MB/s", ",.0f", ratio=True),),
        ),
        "d": Workload(
            "d",
            f"(d) {idle:,} idle connections",
            (
                Metric("kib_per_conn", "server KiB/conn", ".1f", False, ratio=True),
                Metric("handshakes_per_s", "handshakes/s", ",.0f", ratio=True),
            ),
        ),
        "e": Workload(
            "e",
            f"(e) one broadcast to {subscribers:,} subscribers",
            (
                Metric("broadcast_ms", "ms to last subscriber", ".1f", False, ratio=True),
                Metric("deliveries_per_s", "deliveries/s", ",.0f"),
            ),
        ),
    }


@dataclass
class Cell:
    """All runs of one server on one workload."""

    runs: list[dict[str, Any]]
    skipped: str | None = None  # why the server did not run this workload

    @property
    def ok(self) -> list[dict[str, Any]]:
        return [run for run in self.runs if "error" not in run]

    def median(self, key: str) -> float | None:
        values = [run[key] for run in self.ok if isinstance(run.get(key), int | float)]
        values = [value for value in values if not math.isnan(value)]
        return statistics.median(values) if values else None

    def spread(self, key: str) -> tuple[float, float] | None:
        values = [run[key] for run in self.ok if isinstance(run.get(key), int | float)]
        return (min(values), max(values)) if values else None

    def errors(self) -> list[str]:
        return [str(run["error"]) for run in self.runs if "error" in run]


Results = dict[str, dict[str, Cell]]  # workload -> server -> cell


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(workload: Workload, cells: dict[str, Cell], reference: str) -> list[str]:
    ratio_metrics = [metric for metric in workload.metrics if metric.ratio]
    header = ["server", *(metric.label for metric in workload.metrics)]
    header += [f"{metric.label} x {reference}" for metric in ratio_metrics]
    header += ["server CPU %", "server core idle %", "loadgen CPU %", "runs"]
    lines = [
        f"### {workload.title}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    ref = cells.get(reference)
    for server, cell in cells.items():
        if cell.skipped is not None:
            lines.append(f"| {server} | {cell.skipped} |" + " |" * (len(header) - 2))
            continue
        if not cell.ok:
            error = (cell.errors() or ["no run"])[0].replace("|", "/")[:120]
            lines.append(f"| {server} | error: {error} |" + " |" * (len(header) - 2))
            continue
        row = [server]
        row += [_fmt(cell.median(metric.key), metric.fmt) for metric in workload.metrics]
        for metric in ratio_metrics:
            mine = cell.median(metric.key)
            theirs = ref.median(metric.key) if ref is not None else None
            row.append(f"{mine / theirs:.2f}x" if mine is not None and theirs else "-")
        row.append(_fmt(cell.median("server_cpu_pct"), ".0f"))
        row.append(_fmt(cell.median("core_idle_pct"), ".0f"))
        row.append(_fmt(cell.median("loadgen_cpu_pct"), ".0f"))
        row.append(f"{len(cell.ok)}/{len(cell.runs)}")
        lines.append("| " + " | ".join(row) + " |")
    return [*lines, ""]


def markdown(
    results: Results,
    specs: dict[str, Workload],
    reference: str,
    preamble: Sequence[str],
) -> str:
    lines = list(preamble)
    for key, cells in results.items():
        lines += table(specs[key], cells, reference)
    return "\n".join(lines).rstrip() + "\n"


def chart(results: Results, specs: dict[str, Workload], path: Path, title: str) -> None:
    """One horizontal bar chart per headline figure: median bar, min to max whisker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        (specs[key], metric, cells)
        for key, cells in results.items()
        for metric in specs[key].chart_metrics()
        if any(cell.median(metric.key) is not None for cell in cells.values())
    ]
    if not panels:
        return
    columns = 2
    rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(13, 3.2 * rows), squeeze=False)
    for axis in axes.flat[len(panels) :]:
        axis.set_visible(False)
    for axis, (workload, metric, cells) in zip(axes.flat, panels, strict=False):
        names, values, low, high = [], [], [], []
        ceiling = ""
        for server, cell in cells.items():
            median, spread = cell.median(metric.key), cell.spread(metric.key)
            if median is None or spread is None:
                continue
            if server == CEILING:  # off the scale of the others: named in the title instead
                ceiling = f"; {CEILING}: {format(median, metric.fmt)}"
                continue
            names.append(server)
            values.append(median)
            low.append(median - spread[0])
            high.append(spread[1] - median)
        colors = [_color(name) for name in names]
        axis.barh(names, values, xerr=[low, high], color=colors, capsize=3)
        axis.invert_yaxis()
        better = "higher is better" if metric.higher_is_better else "lower is better"
        axis.set_title(f"{workload.title}\n{metric.label} ({better}{ceiling})", fontsize=9)
        axis.tick_params(labelsize=8)
        axis.margins(x=0.15)  # room for the labels right of the whiskers
        for y, (value, above) in enumerate(zip(values, high, strict=True)):
            axis.annotate(
                format(value, metric.fmt),
                (value + above, y),
                fontsize=7,
                va="center",
                xytext=(3, 0),
                textcoords="offset points",
            )
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _color(server: str) -> str:
    if server == "websock" or server.startswith("websock-"):
        return "tab:red"
    if server == "picows":
        return "tab:orange"
    return "tab:blue"


def flatten(results: Results) -> Iterable[dict[str, Any]]:
    for workload, cells in results.items():
        for server, cell in cells.items():
            for run in cell.runs:
                yield {"workload": workload, "server": server, **run}


DOC_START = "<!-- bench results: start (written by bench/run.py --update-docs) -->"
DOC_END = "<!-- bench results: end -->"


def embed(document: Path, results_markdown: str, note: str) -> None:
    """Replace the results between the two markers of ``document`` with this run's tables."""
    text = document.read_text()
    head, _, rest = text.partition(DOC_START)
    _, found, tail = rest.partition(DOC_END)
    if not found:
        raise ValueError(f"{document} lacks the markers {DOC_START!r} ... {DOC_END!r}")
    body = results_markdown.split("\n", 1)[1].strip()  # drop the file's own "# ..." title
    body = body.replace("\n### ", "\n#### ")  # nest under the document's section
    block = f"{DOC_START}\n{note.strip()}\n\n{body}\n{DOC_END}"
    document.write_text(head + block + tail)
