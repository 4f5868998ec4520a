"""The PDF printouts (ReportLab): the period summary with charts of outcomes and alerts per
day, and the alert register with each alert's transitions.

Every text from the log is escaped before it reaches a ReportLab paragraph (whose text is
markup). The per-pack rows are in the CSV, not here: a PDF is read, a CSV is searched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from robot_controller.reports.csv_report import Heading
from robot_controller.reports.figures import figures
from robot_controller.states import Route
from robot_controller.store.reports import Day, Summary, UndoDeadline

ROUTE_COLOURS = {
    Route.SHELVED: colors.HexColor("#2e7d32"),
    Route.REJECTED: colors.HexColor("#c62828"),
    Route.QUARANTINED: colors.HexColor("#ef6c00"),
    Route.RETURNED: colors.HexColor("#546e7a"),
    Route.DISPENSED: colors.HexColor("#1565c0"),
}
ALERT_COLOUR = colors.HexColor("#6a1b9a")
MAX_UNDO_ROWS = 200  # more are in the CSV
MAX_CELL = 600
"""Characters of one table cell; the rest is in the CSV (a ReportLab table row cannot break
across pages, and a longer text, say a 10,000-character reason, is taller than a page)."""
_STYLES = getSampleStyleSheet()
_GRID = TableStyle(
    [
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
        ("FONT", (0, 1), (-1, -1), "Helvetica", 8),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
)


def _text(value: Any, style: str = "BodyText") -> Paragraph:
    return Paragraph(escape("" if value is None else str(value)), _STYLES[style])


def _small() -> Any:
    style = _STYLES["BodyText"].clone("small")
    style.fontSize, style.leading = 7, 8.5
    return style


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    if len(text) <= MAX_CELL:
        return text
    return f"{text[:MAX_CELL]}… ({len(text):,} characters: the CSV report has them all)"


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], widths: Sequence[float]) -> Table:
    small = _small()
    data = [[Paragraph(escape(h), small) for h in header]]
    data += [[Paragraph(escape(_cell(v)), small) for v in row] for row in rows]
    table = Table(data, colWidths=list(widths), repeatRows=1)
    table.setStyle(_GRID)
    return table


def _title(heading: Heading, name: str) -> list[Flowable]:
    head, signed = heading.chain()
    return [
        _text(f"fmd-robot — {name}", "Title"),
        _text(
            f"From {heading.since:%Y-%m-%d %H:%M} to {heading.until:%Y-%m-%d %H:%M} UTC (end "
            f"excluded). Generated {heading.generated:%Y-%m-%d %H:%M:%S} UTC."
        ),
        _text(
            f"Audit chain head: {head}. Last signed checkpoint: {signed}. "
            "Prove the log with `fmd-robot audit verify`."
        ),
        Spacer(1, 4 * mm),
    ]


def _labels(days: Sequence[Day]) -> list[str]:
    step = max(1, len(days) // 15)  # at most about 15 labels under a chart
    return [f"{d.day:%m-%d}" if n % step == 0 else "" for n, d in enumerate(days)]


def _chart(
    title: str, days: Sequence[Day], series: Sequence[tuple[str, list[int], Any]]
) -> Drawing:
    """A bar chart of counts per day, one (stacked) series per name."""
    drawing = Drawing(170 * mm, 70 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y = round(12 * mm), round(12 * mm)
    chart.width, chart.height = round(120 * mm), round(48 * mm)
    chart.data = [values for _, values, _ in series]
    chart.categoryAxis.categoryNames = _labels(days)
    chart.categoryAxis.labels.fontSize = 6
    chart.categoryAxis.labels.angle = 45
    chart.categoryAxis.labels.boxAnchor = "ne"
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontSize = 7
    chart.categoryAxis.style = "stacked"
    for n, (_, _, colour) in enumerate(series):
        chart.bars[n].fillColor = colour
        chart.bars[n].strokeColor = None
    legend = Legend()
    legend.x, legend.y = round(138 * mm), round(55 * mm)
    legend.fontSize = 7
    legend.colorNamePairs = [(colour, name) for name, _, colour in series]
    drawing.add(chart)
    drawing.add(legend)
    drawing.add(String(12 * mm, 65 * mm, title, fontName="Helvetica-Bold", fontSize=9))
    return drawing


def outcome_chart(days: Sequence[Day]) -> Drawing:
    """Packs per day, stacked by route."""
    series = [
        (route.value, [d.routes.get(route.value, 0) for d in days], colour)
        for route, colour in ROUTE_COLOURS.items()
    ]
    return _chart("Packs per day by route", days, series)


def alert_chart(days: Sequence[Day]) -> Drawing:
    """Alerts raised per day."""
    return _chart("Alerts per day", days, [("alerts", [d.alerts for d in days], ALERT_COLOUR)])


def write_summary(
    path: Path, heading: Heading, summary: Summary, undos: Iterable[UndoDeadline]
) -> None:
    """The period summary: figures, the two charts, the open undo deadlines."""
    story: list[Flowable] = _title(heading, "period summary")
    story.append(
        _table(("section", "name", "value"), figures(summary), (60 * mm, 80 * mm, 30 * mm))
    )
    story += [Spacer(1, 6 * mm), outcome_chart(summary.days), alert_chart(summary.days)]
    rows: list[tuple[object, ...]] = []
    more = 0
    for undo in undos:
        if len(rows) < MAX_UNDO_ROWS:
            rows.append((undo.token, undo.product_code, undo.serial, undo.reason,
                         f"{undo.decommissioned_at:%Y-%m-%d %H:%M}",
                         f"{undo.deadline:%Y-%m-%d %H:%M}", undo.route,
                         "yes" if undo.flagged else ""))  # fmt: skip
        else:
            more += 1
    story.append(_text("Open undo deadlines (Art. 13: 240 h after the decommission)", "Heading2"))
    if rows:
        header = ("token", "product code", "serial", "reason", "decommissioned", "deadline",
                  "route", "flagged")  # fmt: skip
        widths = (14 * mm, 28 * mm, 38 * mm, 20 * mm, 26 * mm, 26 * mm, 18 * mm, 14 * mm)
        story.append(_table(header, rows, widths))
    story.append(
        _text(
            f"{len(rows) + more} decommission(s) can still be undone"
            + (f"; the first {len(rows)} are listed, all are in the CSV." if more else ".")
        )
    )
    _build(path, story, A4)


def write_alerts(
    path: Path, heading: Heading, days: Sequence[Day], register: Iterable[Any]
) -> None:
    """The alert register: the alerts-per-day chart, then each alert with its transitions."""
    story: list[Flowable] = _title(heading, "alert register")
    story.append(alert_chart(days))
    header = ("alert", "raised", "code", "pack", "status / cause", "transition", "by", "reason")
    widths = (30 * mm, 26 * mm, 30 * mm, 55 * mm, 30 * mm, 40 * mm, 25 * mm, 40 * mm)
    rows = []
    for row in register:
        transition = (
            f"{row.transition_at:%Y-%m-%d %H:%M} {row.from_state} → {row.to_state}"
            + (f" ({row.transition_cause})" if row.transition_cause else "")
            if row.transition_at is not None
            else ""
        )
        rows.append((row.alert_id or f"#{row.alert}", f"{row.raised_at:%Y-%m-%d %H:%M}",
                     row.return_code, f"{row.product_code or '—'} / {row.serial or '—'} "
                     f"(token {row.token})", f"{row.status} {row.cause or ''}".strip(),
                     transition, row.actor, row.reason))  # fmt: skip
    story.append(KeepTogether(_text(f"{len({r[0] for r in rows})} alert(s)", "Heading2")))
    story.append(_table(header, rows, widths))
    _build(path, story, landscape(A4))


def _build(path: Path, story: list[Flowable], size: tuple[float, float]) -> None:
    document = SimpleDocTemplate(
        str(path), pagesize=size, title="fmd-robot report", author="fmd-robot",
        leftMargin=12 * mm, rightMargin=12 * mm, topMargin=12 * mm, bottomMargin=12 * mm,
    )  # fmt: skip
    document.build(story, onFirstPage=_page_number, onLaterPages=_page_number)


def _page_number(canvas: Any, document: Any) -> None:
    canvas.saveState()
    canvas.setFont("Helvetica", 7)
    canvas.drawRightString(document.pagesize[0] - 12 * mm, 6 * mm, f"page {document.page}")
    canvas.restoreState()
