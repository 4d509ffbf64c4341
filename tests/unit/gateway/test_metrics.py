"""Metrics: events counted by the observer, exposed by the collector with bounded labels."""

from __future__ import annotations

import time

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from dockward.config import config_from_dict
from dockward.gateway.events import (
    ConnectionRefused,
    ExchangeRecord,
    HandshakeFailed,
    Peer,
    Reloaded,
    StreamCut,
)
from dockward.gateway.metrics import GatewayCollector, GatewayMetrics, handshake_reason
from dockward.gateway.server import Gateway
from dockward.identity import PeerIdentity

ADMIN = PeerIdentity("tls", common_name="admin", serial=5)


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("plain HTTP request, answered 400 Bad Request", "plain_http"),
        ("timed out", "timeout"),
        ("certificate verify failed: certificate revoked", "revoked"),
        ("certificate verify failed: certificate has expired", "expired"),
        ("certificate verify failed: unable to get local issuer certificate", "unknown_ca"),
        ("tlsv1 alert unknown ca", "unknown_ca"),
        ("peer did not return a certificate", "no_certificate"),
        ("unsupported protocol", "protocol"),
        ("certificate verify failed: unable to get certificate CRL", "crl"),
        ("something new from OpenSSL", "other"),
    ],
)
def test_handshake_failure_reasons_become_a_few_labels(reason, label):
    assert handshake_reason(reason) == label


def exchange(peer: Peer, path: str = "/_ping", **fields: object) -> ExchangeRecord:
    values: dict[str, object] = {
        "method": "GET",
        "path": path,
        "operation": "system.ping",
        "decision": "allow",
        "rule": "admin:all",
        "role": "admin",
        "status": 200,
        "bytes_out": 100,
        "duration_ms": 2.0,
        "first_byte_ms": 0.7,
    }
    values.update(fields)
    return ExchangeRecord(time.time(), peer, **values)  # type: ignore[arg-type]


@pytest.fixture
def gateway(tmp_path) -> Gateway:
    config = config_from_dict(
        {"listen": [{"unix": str(tmp_path / "d.sock")}], "upstream": str(tmp_path / "none")}
    )
    return Gateway(config)


def scrape(gateway: Gateway, metrics: GatewayMetrics) -> tuple[str, dict[tuple, float]]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GatewayCollector(gateway, metrics))
    text = generate_latest(registry).decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return text, samples


def test_every_event_kind_is_counted_and_exposed(gateway):
    metrics = GatewayMetrics(gateway)
    peer = Peer("127.0.0.1:2376", "127.0.0.1:40000", ADMIN)
    for _ in range(3):
        metrics(exchange(peer, bytes_in=10))
    metrics(exchange(peer, "/v1.41/volumes/create", operation="volume.create", decision="deny",
                     rule="not in allow", role="ci", status=403, bytes_out=50))  # fmt: skip
    metrics(exchange(peer, operation="container.attach", hijacked=True, duration_ms=90_000.0))
    metrics(exchange(peer, operation="", decision="refuse", role=None, status=400))
    metrics(HandshakeFailed(time.time(), Peer("l", "127.0.0.1:1", None), "timed out"))
    metrics(ConnectionRefused(time.time(), Peer("0.0.0.0:2376", "10.0.0.1:5", None), "no"))
    metrics(StreamCut(time.time(), peer, "certificate revoked"))
    metrics(Reloaded(time.time(), "policy", "/p.toml", True, "ab" * 32, "reloaded"))
    metrics(Reloaded(time.time(), "policy", "/p.toml", False, "", "refused"))

    _text, samples = scrape(gateway, metrics)
    requests = "dockward_requests_total"
    assert (
        samples[
            (requests, (("decision", "allow"), ("operation", "system.ping"), ("role", "admin")))
        ]
        == 3
    )
    assert (
        samples[(requests, (("decision", "deny"), ("operation", "volume.create"), ("role", "ci")))]
        == 1
    )
    assert (
        samples[(requests, (("decision", "refuse"), ("operation", "none"), ("role", "none")))] == 1
    )
    assert (
        samples[("dockward_transferred_bytes_total", (("direction", "in"), ("role", "admin")))]
        == 30
    )
    assert (
        samples[("dockward_transferred_bytes_total", (("direction", "out"), ("role", "admin")))]
        == 400
    )
    duration = "dockward_request_duration_seconds"
    assert samples[(duration + "_count", (("operation", "system.ping"),))] == 3
    assert samples[(duration + "_bucket", (("le", "0.001"), ("operation", "system.ping")))] == 0
    assert samples[(duration + "_bucket", (("le", "0.0025"), ("operation", "system.ping")))] == 3
    assert samples[(duration + "_sum", (("operation", "system.ping"),))] == pytest.approx(0.006)
    assert (duration + "_count", (("operation", "container.attach"),)) not in samples  # a tunnel
    head = "dockward_response_head_seconds"
    assert samples[(head + "_bucket", (("le", "0.001"), ("operation", "system.ping")))] == 3
    assert samples[(head + "_count", (("operation", "container.attach"),))] == 1
    assert samples[("dockward_handshake_failures_total", (("reason", "timeout"),))] == 1
    assert samples[("dockward_refused_connections_total", (("listener", "0.0.0.0:2376"),))] == 1
    assert samples[("dockward_connections_cut_total", ())] == 1
    assert samples[("dockward_reloads_total", (("result", "ok"), ("what", "policy")))] == 1
    assert samples[("dockward_reloads_total", (("result", "refused"), ("what", "policy")))] == 1


def test_no_path_source_or_client_string_becomes_a_label(gateway):
    metrics = GatewayMetrics(gateway)
    for n in range(50):
        peer = Peer("127.0.0.1:2376", f"127.0.0.{n}:4{n:04d}", ADMIN)
        metrics(exchange(peer, f"/secret-{n}/x", operation="unknown", decision="deny"))
        metrics(HandshakeFailed(time.time(), peer, f"weird reason {n}"))
    text, samples = scrape(gateway, metrics)
    assert "secret-" not in text and "weird reason" not in text and "127.0.0.3" not in text
    assert samples[("dockward_handshake_failures_total", (("reason", "other"),))] == 50


def test_gone_connections_are_forgotten_at_a_scrape(gateway):
    metrics = GatewayMetrics(gateway)
    peer = Peer("127.0.0.1:2376", "127.0.0.1:40000", ADMIN)
    metrics(exchange(peer))
    assert metrics.totals(peer) == (1, 0, 100)
    scrape(gateway, metrics)  # no live connection holds this peer
    assert metrics.totals(peer) == (0, 0, 0)


def test_the_policy_and_an_audit_store_are_exposed(gateway, tmp_path):
    from dockward.audit.store import AuditStore

    store = AuditStore(str(tmp_path / "audit.sqlite3"), "gw", buffer=100)
    gateway.audit_store = store
    metrics = GatewayMetrics(gateway)
    _text, samples = scrape(gateway, metrics)
    assert samples[("dockward_policy_info", (("file", ""), ("sha256", "")))] == 1
    assert samples[("dockward_audit_store_accepting_writes", ())] == 1
    assert samples[("dockward_audit_store_failing", ())] == 0
    assert samples[("dockward_audit_records_written_total", ())] == 0
    assert not any(name == "dockward_open_connections" for name, _ in samples)  # none open


def test_limit_refusals_are_exposed_by_limit(gateway):
    gateway.caps.refused["identity"] += 2
    gateway.caps.refused["rate"] += 5
    _text, samples = scrape(gateway, GatewayMetrics(gateway))
    limit = "dockward_limit_refusals_total"
    assert samples[(limit, (("limit", "connections_over_identity"),))] == 2
    assert samples[(limit, (("limit", "requests_over_rate"),))] == 5
    assert samples[(limit, (("limit", "connections_over_source"),))] == 0
    assert samples[(limit, (("limit", "daemon_breaker_trips"),))] == 0
