"""The access-log sinks: file, standard output, syslog, chosen by the access_log setting."""

from __future__ import annotations

import json
import syslog

from dockward.audit import sinks
from dockward.audit.sinks import AccessLog, StdoutSink, SyslogSink, open_sink
from dockward.gateway.events import ExchangeRecord, HandshakeFailed, Peer

PEER = Peer("127.0.0.1:2376", "127.0.0.1:5000", None)


def test_the_setting_chooses_the_sink(tmp_path, monkeypatch):
    monkeypatch.setattr(syslog, "openlog", lambda *args: None)
    monkeypatch.setattr(syslog, "closelog", lambda: None)
    assert isinstance(open_sink(sinks.SYSLOG), SyslogSink)
    out = open_sink(sinks.STDOUT)
    assert isinstance(out, StdoutSink)
    out.close()
    path = tmp_path / "access.log"
    log = open_sink(path, max_bytes=1000, keep=2)
    assert isinstance(log, AccessLog) and (log.max_bytes, log.keep) == (1000, 2)
    log.close()
    assert path.exists()


def test_stdout_gets_one_line_per_event(capfd):
    sink = StdoutSink()
    sink(ExchangeRecord(1_800_000_000.0, PEER, method="GET", path="/_ping", status=200))
    sink(HandshakeFailed(1_800_000_000.5, PEER, "plain HTTP request"))
    sink.close()
    out, err = capfd.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["path"] for line in lines] == ["/_ping", ""]
    assert lines[1]["event"] == "connection.handshake_failed" and err == ""


def test_syslog_gets_the_line_without_its_newline(monkeypatch):
    sent: list[tuple[int, str]] = []
    opened: list[tuple[object, ...]] = []
    monkeypatch.setattr(syslog, "openlog", lambda *args: opened.append(args))
    monkeypatch.setattr(syslog, "syslog", lambda priority, text: sent.append((priority, text)))
    monkeypatch.setattr(syslog, "closelog", lambda: opened.append(("closed",)))
    sink = SyslogSink()
    sink(ExchangeRecord(1_800_000_000.0, PEER, method="GET", path="/_ping", status=200))
    sink.reopen()
    sink.close()
    assert opened == [("dockward", syslog.LOG_PID, syslog.LOG_DAEMON), ("closed",)]
    assert len(sent) == 1 and sent[0][0] == syslog.LOG_INFO
    assert not sent[0][1].endswith("\n") and json.loads(sent[0][1])["path"] == "/_ping"
