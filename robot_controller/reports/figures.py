"""A period's summary as lines of figures, `(section, name, value)`: the one wording the CSV
and the PDF share."""

from __future__ import annotations

from collections.abc import Iterator

from robot_controller.states import Route
from robot_controller.store.reports import Summary

Figure = tuple[str, str, str]


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def figures(summary: Summary) -> Iterator[Figure]:
    """Every figure of the summary, section by section; an empty group gives one line "none"."""
    yield "packs", "scanned", str(summary.scanned)
    yield "packs", "verified at the hub", str(summary.verified)
    yield from _group("decommissioned by reason", summary.decommissioned)
    for route in Route:
        yield from _group(f"{route} by reason", summary.routes.get(route.value, {}))
    yield from _group("alerts by return code", summary.alerts_by_code)
    yield from _group("alerts by closing cause", summary.alerts_by_cause)
    hub = summary.hub
    availability = "—" if hub.availability is None else f"{hub.availability:.2%}"
    yield "hub", "calls", str(hub.calls)
    yield "hub", "answered", str(hub.answered)
    yield "hub", "availability", availability
    for p, value in hub.latency_ms.items():
        yield "hub", f"latency p{p} (ms)", _ms(value)
    yield from _group("robot faults", summary.robot_faults)
    yield "undo", "decommissions that can still be undone", str(summary.open_undos)


def _group(section: str, counts: dict[str, int]) -> Iterator[Figure]:
    if not counts:
        yield section, "none", "0"
    for name, count in sorted(counts.items()):
        yield section, name, str(count)
