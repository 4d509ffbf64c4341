"""Prometheus metrics of a running gateway: an observer that counts, a collector that reports.

``GatewayMetrics`` is an observer of the gateway's events (``Emitter``). Per event it only adds
to plain dicts on the event loop: no lock, no ``prometheus_client`` object touched per request.
``GatewayCollector.collect`` turns those counts and the gateway's live state (connections and
tunnels by role, policy hash, certificate and CRL dates, audit store) into metric families when
``/metrics`` is scraped (``gateway.admin``), through ``prometheus_client``'s exposition.

Label values stay bounded: operations come from the operation registry, decisions and handshake
failure reasons from fixed lists, roles from the policy file, listeners from the configuration.
No path, address or other client-chosen string becomes a label.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from dockward.gateway import live
from dockward.gateway.events import (
    AuditEvent,
    ConnectionRefused,
    ExchangeRecord,
    HandshakeFailed,
    Peer,
    Reloaded,
    StreamCut,
)

if TYPE_CHECKING:
    from dockward.gateway.server import Gateway

# seconds; "le" buckets, +Inf added by the exposition
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0
)  # fmt: skip
_BOUNDS_MS = tuple(bound * 1000.0 for bound in LATENCY_BUCKETS)

# handshake failure reasons as OpenSSL and the relay word them -> a label value; first match wins
HANDSHAKE_REASONS: tuple[tuple[str, str], ...] = (
    ("plain http", "plain_http"),
    ("timed out", "timeout"),
    ("revoked", "revoked"),
    ("crl", "crl"),
    ("expired", "expired"),
    ("not yet valid", "expired"),
    ("did not return a certificate", "no_certificate"),
    ("no certificate", "no_certificate"),
    ("certificate required", "no_certificate"),
    ("unknown ca", "unknown_ca"),
    ("unable to get local issuer", "unknown_ca"),
    ("self-signed", "unknown_ca"),
    ("self signed", "unknown_ca"),
    ("certificate verify failed", "unknown_ca"),
    ("protocol", "protocol"),
    ("version", "protocol"),
    ("cipher", "protocol"),
)
PEERS_KEPT = 4096  # connections whose traffic is kept before the gone ones are forgotten


def handshake_reason(reason: str) -> str:
    """The bounded label value of a handshake failure's reason text."""
    text = reason.lower()
    for needle, label in HANDSHAKE_REASONS:
        if needle in text:
            return label
    return "other"


_BUCKETS = len(_BOUNDS_MS) + 1  # the last one is +Inf
# One cell per (operation, decision, role): requests, bytes in, bytes out, then two histograms
# of _BUCKETS counts each (response head, whole exchange), then their two sums in milliseconds.
_IN, _OUT, _HEAD, _WHOLE = 1, 2, 3, 3 + _BUCKETS
_HEAD_SUM, _WHOLE_SUM = 3 + 2 * _BUCKETS, 4 + 2 * _BUCKETS
_CELL = 5 + 2 * _BUCKETS


class GatewayMetrics(live.Traffic):
    """Counts the gateway's events; an observer (``metrics(event)``) and ``live.Traffic``.

    An exchange costs one dict lookup for its cell and one for its connection's totals; the
    families are summed from the cells when they are scraped.
    """

    def __init__(self, gateway: Gateway | None = None) -> None:
        self.gateway = gateway
        self.cells: dict[tuple[str, str, str | None], list[float]] = {}
        self.handshake_failures: dict[str, int] = {}
        self.refused: dict[str, int] = {}  # by listener
        self.cuts = 0
        self.reloads: dict[tuple[str, str], int] = {}  # (what, "ok" | "refused")
        self.audit_refusals = 0
        self._peers: dict[Peer, list[int]] = {}  # requests, bytes in, bytes out
        self._prune_at = PEERS_KEPT

    # ------------------------------------------------------------------ the observer

    def __call__(self, event: AuditEvent) -> None:
        if type(event) is ExchangeRecord:
            self.exchange(event)
            return
        if type(event) is HandshakeFailed:
            label = handshake_reason(event.reason)
            self.handshake_failures[label] = self.handshake_failures.get(label, 0) + 1
        elif type(event) is ConnectionRefused:
            where = event.peer.listener
            self.refused[where] = self.refused.get(where, 0) + 1
        elif type(event) is StreamCut:
            self.cuts += 1
        elif type(event) is Reloaded:
            key = (event.what, "ok" if event.ok else "refused")
            self.reloads[key] = self.reloads.get(key, 0) + 1

    def exchange(self, record: ExchangeRecord) -> None:
        key = (record.operation, record.decision, record.role)
        cells = self.cells
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = [0.0] * _CELL
        bytes_in = record.bytes_in
        bytes_out = record.bytes_out
        cell[0] += 1
        if bytes_in:
            cell[_IN] += bytes_in
        cell[_OUT] += bytes_out
        first = record.first_byte_ms
        if first:
            cell[_HEAD + bisect_left(_BOUNDS_MS, first)] += 1
            cell[_HEAD_SUM] += first
        if not record.hijacked:  # a tunnel's duration is a session's length, not a latency
            whole = record.duration_ms
            cell[_WHOLE + bisect_left(_BOUNDS_MS, whole)] += 1
            cell[_WHOLE_SUM] += whole
        if record.status == 503 and record.rule == "audit-store":
            self.audit_refusals += 1
        totals = self._peers.get(record.peer)
        if totals is None:
            totals = self._new_peer(record.peer)
        totals[0] += 1
        totals[1] += bytes_in
        totals[2] += bytes_out

    def _new_peer(self, peer: Peer) -> list[int]:
        if len(self._peers) >= self._prune_at:
            self.keep_bounded()
        totals = self._peers[peer] = [0, 0, 0]
        return totals

    # ------------------------------------------------------------------ what scrapes read

    def requests(self) -> dict[tuple[str, str, str], int]:
        """Requests by (operation, decision, role), label values as exposed."""
        out: dict[tuple[str, str, str], int] = {}
        for (operation, decision, role), cell in self.cells.items():
            key = (operation or "none", decision or "none", role or "none")
            out[key] = out.get(key, 0) + int(cell[0])
        return out

    def transferred(self) -> dict[tuple[str, str], int]:
        """Bytes by (direction, role)."""
        out: dict[tuple[str, str], int] = {}
        for (_operation, _decision, role), cell in self.cells.items():
            for direction, index in (("in", _IN), ("out", _OUT)):
                key = (direction, role or "none")
                out[key] = out.get(key, 0) + int(cell[index])
        return out

    def latencies(self, whole: bool) -> dict[str, tuple[list[float], float]]:
        """Per operation: the bucket counts (not cumulative) and their sum in seconds."""
        first, total = (_WHOLE, _WHOLE_SUM) if whole else (_HEAD, _HEAD_SUM)
        out: dict[str, tuple[list[float], float]] = {}
        for (operation, _decision, _role), cell in self.cells.items():
            name = operation or "none"
            counts, seconds = out.get(name, ([0.0] * _BUCKETS, 0.0))
            for index in range(_BUCKETS):
                counts[index] += cell[first + index]
            out[name] = (counts, seconds + cell[total] / 1000.0)
        return {name: value for name, value in out.items() if any(value[0])}

    # ------------------------------------------------------------------ live.Traffic

    def totals(self, peer: Peer) -> tuple[int, int, int]:
        found = self._peers.get(peer)
        return (found[0], found[1], found[2]) if found is not None else (0, 0, 0)

    def keep_bounded(self) -> None:
        """Forget the traffic of connections that are gone (at a scrape, and when many were
        kept), so that the connections of a long run never pile up."""
        gateway = self.gateway
        if gateway is None:
            return
        alive = {c.relay.peer for c in list(gateway.connections) if c.relay is not None}
        self._peers = {peer: t for peer, t in self._peers.items() if peer in alive}
        self._prune_at = max(PEERS_KEPT, 2 * len(self._peers))


def _buckets(counts: list[float]) -> list[tuple[str, float]]:
    cumulative, out = 0.0, []
    for bound, count in zip((*LATENCY_BUCKETS, float("inf")), counts, strict=True):
        cumulative += count
        out.append((_le(bound), cumulative))
    return out


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


class GatewayCollector(Collector):
    """The metric families of one gateway, made at each scrape."""

    def __init__(self, gateway: Gateway, metrics: GatewayMetrics) -> None:
        self.gateway = gateway
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        gateway, metrics = self.gateway, self.metrics
        metrics.keep_bounded()
        requests = CounterMetricFamily(
            "dockward_requests",
            "Requests by operation, decision (allow, deny, audit-deny, refuse) and role",
            labels=["operation", "decision", "role"],
        )
        for (operation, decision, role), count in sorted(metrics.requests().items()):
            requests.add_metric([operation, decision, role], count)
        yield requests
        for name, text, whole in (
            (
                "dockward_request_duration_seconds",
                "Whole exchange, request head to end of response (tunnels left out)",
                True,
            ),
            (
                "dockward_response_head_seconds",
                "Request head received to the daemon's response head",
                False,
            ),
        ):
            family = HistogramMetricFamily(name, text, labels=["operation"])
            for operation, (counts, seconds) in sorted(metrics.latencies(whole).items()):
                family.add_metric([operation], _buckets(counts), seconds)
            yield family
        transferred = CounterMetricFamily(
            "dockward_transferred_bytes",
            "Bytes of finished exchanges, from the client (in) and to it (out), by role",
            labels=["direction", "role"],
        )
        for (direction, role), count in sorted(metrics.transferred().items()):
            transferred.add_metric([direction, role], count)
        yield transferred
        yield from self._connections()
        failures = CounterMetricFamily(
            "dockward_handshake_failures",
            "Failed TLS handshakes by reason",
            labels=["reason"],
        )
        for reason, count in sorted(metrics.handshake_failures.items()):
            failures.add_metric([reason], count)
        yield failures
        refused = CounterMetricFamily(
            "dockward_refused_connections",
            "TCP connections dropped at accept: source address not in the allow-list",
            labels=["listener"],
        )
        for listener, count in sorted(metrics.refused.items()):
            refused.add_metric([listener], count)
        yield refused
        limited = CounterMetricFamily(
            "dockward_limit_refusals",
            "Refused by a limit: connections over the total, per-source or per-identity cap, "
            "requests over the rate, inspected bodies over the budget; and daemon breaker trips",
            labels=["limit"],
        )
        for limit, count in sorted(gateway.refusal_counts().items()):
            limited.add_metric([limit], count)
        yield limited
        yield CounterMetricFamily(
            "dockward_connections_cut",
            "Live connections ended because their certificate was revoked",
            value=metrics.cuts,
        )
        reloads = CounterMetricFamily(
            "dockward_reloads", "Policy reloads, taken or refused", labels=["what", "result"]
        )
        for (what, result), count in sorted(metrics.reloads.items()):
            reloads.add_metric([what, result], count)
        yield reloads
        policy = live.policy_view(gateway)
        info = GaugeMetricFamily(
            "dockward_policy_info", "The policy in force (1)", labels=["file", "sha256"]
        )
        info.add_metric([policy.file, policy.sha256], 1)
        yield info
        yield from self._tls()
        yield from self._audit()
        yield CounterMetricFamily(
            "dockward_observer_failures",
            "Events an observer (access log, audit store, metrics) failed to take",
            value=gateway.events.failures,
        )

    def _connections(self) -> Iterator[Metric]:
        gateway = self.gateway
        connections = GaugeMetricFamily(
            "dockward_open_connections", "Client connections open now, by role", labels=["role"]
        )
        tunnels = GaugeMetricFamily(
            "dockward_open_tunnels",
            "Connections that are byte pipes now (attach, exec, build), by role",
            labels=["role"],
        )
        by_role: dict[str, list[int]] = {}
        for view in live.clients(gateway, live.Traffic()):
            counts = by_role.setdefault(view.role or "none", [0, 0])
            counts[0] += 1
            counts[1] += view.open_tunnels
        for role, (count, open_tunnels) in sorted(by_role.items()):
            connections.add_metric([role], count)
            tunnels.add_metric([role], open_tunnels)
        yield connections
        yield tunnels

    def _tls(self) -> Iterator[Metric]:
        gateway = self.gateway
        expiry = GaugeMetricFamily(
            "dockward_certificate_expiry_timestamp_seconds",
            "When the server certificate and each CA of the bundle expire (Unix time)",
            labels=["certificate", "subject"],
        )
        for view in live.certificates(gateway):
            expiry.add_metric([view.what, view.subject], view.not_after)
        yield expiry
        crl = live.crl_view(gateway)
        if crl is not None:
            yield GaugeMetricFamily(
                "dockward_crl_next_update_timestamp_seconds",
                "When the CRL in force expires: every client is refused from then on (Unix time)",
                value=crl.next_update or 0.0,
            )
            yield GaugeMetricFamily(
                "dockward_crl_valid",
                "1 while the CRL in force verifies and has not expired",
                value=0.0 if live.crl_problem(gateway) else 1.0,
            )

    def _audit(self) -> Iterator[Metric]:
        store = self.gateway.audit_store
        yield CounterMetricFamily(
            "dockward_audit_refused_requests",
            "Write operations refused because the audit store could not record them",
            value=self.metrics.audit_refusals,
        )
        if store is None:
            return
        state = store.state()
        for name, text, value in (
            (
                "dockward_audit_store_failing",
                "1 while writes to the audit store fail",
                state.failing,
            ),
            (
                "dockward_audit_store_accepting_writes",
                "0 while write operations are refused (on_failure = refuse-writes)",
                state.accepting_writes,
            ),
            ("dockward_audit_store_lag_seconds", "Age of the oldest unwritten record", state.lag),
            ("dockward_audit_store_pending_records", "Records not written yet", state.pending),
        ):
            yield GaugeMetricFamily(name, text, value=float(value))
        since = state.failing_since
        yield GaugeMetricFamily(
            "dockward_audit_store_failing_since_timestamp_seconds",
            "When the current failure began (0 when the store is written)",
            value=since or 0.0,
        )
        for name, text, count in (
            ("dockward_audit_records_written", "Records written to the store", state.written),
            ("dockward_audit_records_dropped", "Records lost: the buffer was full", state.dropped),
            ("dockward_audit_store_failures", "Failed attempts to write the store", state.failures),
        ):
            yield CounterMetricFamily(name, text, value=count)
