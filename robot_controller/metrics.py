"""The daemon's facts as Prometheus metrics (names prefixed `fmd_`), in a registry of its own.

What happens on the hot path (a pack routed, a hub call, a robot job) is one counter or
histogram step, told by the daemon through `DaemonObserver` (`wiring.build_daemon`). What the
store knows (the outbox, open alerts, the audit chain's head) and the scanners' reconnects are
read when Prometheus scrapes, by `StoreCollector` and `ScannerCollector`: cheap queries, run
by `/metrics` in a thread, never in the event loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from robot_controller.alert_cases import AlertState
from robot_controller.pipeline import Routed
from robot_controller.robot.base import Job, JobOutcome
from robot_controller.store import Store
from scanners.base import Scanner

HUB_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
OPEN_STATES = (AlertState.OPEN, AlertState.INVESTIGATING)


class Metrics:
    """The counters the daemon steps and the collectors read at a scrape; one per app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.packs = Counter(
            "fmd_packs",
            "Packs the daemon finished with (loaded, or handed out), by where they went and why",
            ["route", "reason"],
            registry=self.registry,
        )
        self.hub_seconds = Histogram(
            "fmd_hub_call_seconds",
            "Each call to the national system (every try), by operation and how it ended",
            ["operation", "outcome"],
            buckets=HUB_BUCKETS,
            registry=self.registry,
        )
        self.job_seconds = Histogram(
            "fmd_robot_job_seconds",
            "Each robot job, from being given to its outcome, by job and result",
            ["job", "result"],
            buckets=JOB_BUCKETS,
            registry=self.registry,
        )
        self._watched = False

    # -- the observer the daemon is given (wiring.DaemonObserver) -------------------------

    def routed(self, pack: Routed) -> None:
        self.packs.labels(pack.route.value, pack.why.value).inc()

    def hub_call(self, operation: str, seconds: float, outcome: str) -> None:
        self.hub_seconds.labels(operation or "other", outcome).observe(seconds)

    def robot_job(self, job: Job, outcome: JobOutcome | None, seconds: float) -> None:
        result = outcome.result.name.lower() if outcome is not None else "unknown"
        self.job_seconds.labels(job.code.name.lower(), result).observe(seconds)

    # -- read at a scrape -----------------------------------------------------------------

    def watch(self, store: Store, *, robot: str | None, scanners: Sequence[Scanner] = ()) -> None:
        """Read `store` (what `robot`'s daemon is to send) and `scanners` at each scrape (once:
        a second call changes nothing)."""
        if self._watched:
            return
        self._watched = True
        self.registry.register(StoreCollector(store, robot))
        self.registry.register(ScannerCollector(scanners))

    def exposition(self) -> bytes:
        """The text format of every metric (blocking: the store is read; call in a thread)."""
        return generate_latest(self.registry)


class StoreCollector(Collector):
    """The outbox's depth, the open alerts and the audit chain's head, as the store says now."""

    def __init__(self, store: Store, robot: str | None) -> None:
        self._store = store
        self._robot = robot

    def collect(self) -> Iterable[Metric]:
        outbox = GaugeMetricFamily(
            "fmd_outbox_intents",
            "Checks and changes in the outbox, by operation and status",
            labels=["operation", "status"],
        )
        for (operation, status), count in sorted(
            self._store.outbox_counts(robot=self._robot).items()
        ):
            outbox.add_metric([operation, status], count)
        yield outbox
        alerts = GaugeMetricFamily(
            "fmd_alerts_open", "Alert cases not closed, by state", labels=["state"]
        )
        for state in OPEN_STATES:
            alerts.add_metric([state.value], len(self._store.alert_cases(state)))
        yield alerts
        seq, _ = self._store.audit_head()
        yield GaugeMetricFamily(
            "fmd_audit_head_seq", "The sequence number of the audit chain's newest entry", seq
        )
        checkpoint = self._store.last_checkpoint()
        signed = GaugeMetricFamily(
            "fmd_audit_checkpoint_seq", "The chain position the last signed checkpoint covers"
        )
        at = GaugeMetricFamily(
            "fmd_audit_checkpoint_timestamp_seconds", "When the last checkpoint was signed"
        )
        if checkpoint is not None:
            signed.add_metric([], checkpoint.seq)
            at.add_metric([], checkpoint.at.timestamp())
        yield signed
        yield at


class ScannerCollector(Collector):
    """How often each scanner got its device back after losing it (serial and camera scanners
    count them; other kinds never reconnect)."""

    def __init__(self, scanners: Sequence[Scanner]) -> None:
        self._scanners = scanners

    def collect(self) -> Iterator[Metric]:
        reconnects = CounterMetricFamily(
            "fmd_scanner_reconnects",
            "Times a scanner reconnected to its device, by source",
            labels=["source"],
        )
        for scanner in self._scanners:
            count = getattr(getattr(scanner, "stats", None), "reconnects", None)
            if isinstance(count, int):
                reconnects.add_metric([str(getattr(scanner, "source", "scanner"))], count)
        yield reconnects
