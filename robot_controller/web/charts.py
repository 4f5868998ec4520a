"""The geometry of the reports page's bar charts, drawn as inline SVG by its template (pure: no
script, no CDN). Every bar carries its label and its count as text, so colour is never the only
signal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from robot_controller.states import Route
from robot_controller.store.reports import Day

WIDTH = 720
"""The charts' drawing width (the SVG scales to its box)."""
_ROW = 26
_LABEL = 230  # where bars start in a bar list
_BAR_END = WIDTH - 70
_TOP, _BOTTOM, _LEFT, _RIGHT = 24, 40, 44, WIDTH - 8  # the column chart's plot area


@dataclass(frozen=True, slots=True)
class Bar:
    """One horizontal bar: its label, count, where it is drawn and its colour class."""

    label: str
    count: int
    y: int
    width: float
    kind: str


@dataclass(frozen=True, slots=True)
class Bars:
    """A list of horizontal bars, one per label."""

    title: str
    bars: tuple[Bar, ...]
    height: int
    label_x: int = _LABEL - 8
    bar_x: int = _LABEL
    row: int = _ROW
    width: int = WIDTH


@dataclass(frozen=True, slots=True)
class Segment:
    route: str
    count: int
    y: float
    height: float


@dataclass(frozen=True, slots=True)
class Column:
    """One day's column: its segments (one per route, stacked), total, and labels."""

    day: str
    x: float
    width: float
    total: int
    alerts: int
    segments: tuple[Segment, ...]
    label: str  # the day under the column ("" when skipped to keep the axis legible)
    words: str  # the day in words: "2026-11-26: 12 packs (10 shelved, 2 rejected), 1 alert"


@dataclass(frozen=True, slots=True)
class Columns:
    """Packs per day stacked by route, with the axis' top value."""

    title: str
    columns: tuple[Column, ...]
    top: int
    routes: tuple[str, ...]
    width: int = WIDTH
    height: int = _TOP + 180 + _BOTTOM
    plot_top: int = _TOP
    plot_bottom: int = _TOP + 180
    plot_left: int = _LEFT
    show_totals: bool = True


def bars(title: str, counts: Sequence[tuple[str, int, str]]) -> Bars:
    """Horizontal bars for `(label, count, kind)` (kind: the colour class), longest = widest."""
    most = max((count for _, count, _ in counts), default=0)
    span = _BAR_END - _LABEL
    drawn = tuple(
        Bar(label, count, 8 + n * _ROW, (span * count / most) if most else 0.0, kind)
        for n, (label, count, kind) in enumerate(counts)
    )
    return Bars(title, drawn, 16 + len(drawn) * _ROW)


def route_bars(routes: dict[str, dict[str, int]]) -> Bars:
    """Packs by route, in `Route`'s order (a route with none shows 0)."""
    return bars(
        "Packs by route",
        [(route.value, sum(routes.get(route.value, {}).values()), f"route-{route.value}")
         for route in Route],
    )  # fmt: skip


def reason_bars(routes: dict[str, dict[str, int]]) -> Bars:
    """Packs by route and reason, the most first."""
    rows = [
        (f"{route}: {why}", count, f"route-{route}")
        for route, whys in routes.items()
        for why, count in whys.items()
    ]
    return bars("Packs by route and reason", sorted(rows, key=lambda r: (-r[1], r[0])))


def count_bars(title: str, counts: dict[str, int], kind: str) -> Bars:
    """Bars for one group of counts (alerts by code, decommissions by reason…), the most first."""
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return bars(title, [(name, count, kind) for name, count in rows])


def _words(day: Day, total: int) -> str:
    parts = ", ".join(f"{n} {route}" for route, n in sorted(day.routes.items()) if n)
    alerts = f", {day.alerts} alert{'s' if day.alerts != 1 else ''}" if day.alerts else ""
    return (
        f"{day.day.isoformat()}: {total} pack{'s' if total != 1 else ''}"
        + (f" ({parts})" if parts else "")
        + alerts
    )


def day_columns(days: Sequence[Day]) -> Columns:
    """Packs per day, stacked by route (in `Route`'s order), at most about 15 day labels."""
    order = [route.value for route in Route]
    totals = [sum(day.routes.values()) for day in days]
    top = max(totals, default=0) or 1
    plot = 180
    span = (_RIGHT - _LEFT) / max(1, len(days))
    step = max(1, len(days) // 15)
    columns = []
    for n, (day, total) in enumerate(zip(days, totals, strict=True)):
        y = float(_TOP + plot)
        segments = []
        for route in order:
            count = day.routes.get(route, 0)
            if not count:
                continue
            height = plot * count / top
            y -= height
            segments.append(Segment(route, count, y, height))
        columns.append(
            Column(
                day=day.day.isoformat(), x=_LEFT + n * span + span * 0.1, width=span * 0.8,
                total=total, alerts=day.alerts, segments=tuple(segments),
                label=f"{day.day:%m-%d}" if n % step == 0 else "", words=_words(day, total),
            )
        )  # fmt: skip
    return Columns("Packs per day by route", tuple(columns), top, tuple(order),
                   show_totals=len(days) <= 31)  # fmt: skip
