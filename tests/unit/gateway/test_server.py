"""The gateway server: policy load and reload events, listening sockets, limits and memory."""

from __future__ import annotations

import logging

from dockward.config import config_from_dict
from dockward.gateway.server import Gateway


def test_a_refused_policy_reload_logs_every_problem_on_one_line(tmp_path, caplog):
    policy = tmp_path / "policy.toml"
    policy.write_text('[[role]]\nname = "ci"\nallow = ["container.create"]\n')
    config = config_from_dict(
        {"policy": str(policy), "listen": [{"unix": str(tmp_path / "d.sock")}]}
    )
    gateway = Gateway(config)
    before = gateway.policy
    policy.write_text('[[role]]\nname = "ci"\nallow = ["container.craete"]\nmdoe = "audit"\n')
    with caplog.at_level(logging.ERROR, logger="dockward.gateway"):
        assert gateway.reload_policy() is False
    assert gateway.policy is before
    assert [record.getMessage() for record in caplog.records] == [
        "policy reload refused, the previous policy stays in force: "
        f"{policy}: role[0].mdoe: unknown key (did you mean 'mode'?); "
        f"{policy}: role[0].allow: unknown operation 'container.craete' "
        "(did you mean 'container.create'?)"
    ]


def test_reloads_are_events_with_the_hash_of_the_file_in_force(tmp_path):
    import hashlib

    from dockward.gateway.events import Reloaded

    policy = tmp_path / "policy.toml"
    policy.write_text('[[role]]\nname = "ci"\nallow = ["container.list"]\n')
    config = config_from_dict(
        {"policy": str(policy), "listen": [{"unix": str(tmp_path / "d.sock")}]}
    )
    events: list[object] = []
    gateway = Gateway(config, observers=[events.append])
    first = hashlib.sha256(policy.read_bytes()).hexdigest()
    assert gateway.policy_digest == first
    policy.write_text('[[role]]\nname = "ci"\nallow = ["container.list", "system.ping"]\n')
    assert gateway.reload_policy() is True
    second = hashlib.sha256(policy.read_bytes()).hexdigest()
    policy.write_text("[[role]]\nname = 1\n")
    assert gateway.reload_policy() is False
    assert gateway.policy_digest == second
    taken, refused = events
    assert isinstance(taken, Reloaded) and isinstance(refused, Reloaded)
    assert (taken.what, taken.path, taken.ok, taken.digest) == ("policy", str(policy), True, second)
    assert (refused.ok, refused.digest) == (False, "")
    assert refused.reason.startswith("refused, the previous policy stays in force: ")


def test_after_many_connections_closed_the_heap_is_trimmed_once(tmp_path, monkeypatch):
    import asyncio

    from dockward.gateway import server

    trims: list[int] = []
    monkeypatch.setattr(server, "TRIM_AFTER_CLOSED", 3)
    monkeypatch.setattr(server, "TRIM_DELAY", 0.01)
    monkeypatch.setattr(server, "release_free_memory", lambda: trims.append(1))
    gateway = Gateway(config_from_dict({"listen": [{"unix": str(tmp_path / "d.sock")}]}))

    async def scenario() -> None:
        for _ in range(7):
            gateway.connection_closed()
        assert gateway.all_closed.is_set()  # none left
        await asyncio.sleep(0.05)  # the trim's delay

    asyncio.run(scenario())
    assert trims == [1]  # one trim for the burst, not one per connection


def test_release_free_memory_is_harmless():
    from dockward.gateway.server import release_free_memory

    release_free_memory()


def test_refusal_counts_name_every_kind(tmp_path):
    gateway = Gateway(config_from_dict({"listen": [{"unix": str(tmp_path / "d.sock")}]}))
    assert gateway.refusal_counts() == {
        "connections_over_total": 0,
        "connections_over_source": 0,
        "connections_over_identity": 0,
        "requests_over_rate": 0,
        "inspection_budget_full": 0,
        "daemon_breaker_trips": 0,
    }


def test_accepted_tcp_connections_have_the_keepalive_of_the_listening_socket(tmp_path):
    import asyncio
    import socket

    from dockward.gateway import server
    from dockward.pki.ca import CertificateAuthority

    ca = CertificateAuthority.create()
    ca.write(tmp_path / "ca.pem", tmp_path / "ca-key.pem")
    ca.issue_server(["127.0.0.1"]).write(tmp_path / "server.pem", tmp_path / "server-key.pem")
    config = config_from_dict(
        {
            "upstream": str(tmp_path / "docker.sock"),
            "listen": [{"address": "127.0.0.1:0"}],
            "tls": {
                "cert": str(tmp_path / "server.pem"),
                "key": str(tmp_path / "server-key.pem"),
                "ca": str(tmp_path / "ca.pem"),
            },
        }
    )

    async def scenario() -> list[int]:
        gateway = Gateway(config)
        await gateway.start()
        try:
            port = int(gateway.bound_addresses()[0].rsplit(":", 1)[1])
            _, writer = await asyncio.open_connection("127.0.0.1", port)  # no handshake needed
            for _ in range(200):
                if gateway.connections:
                    break
                await asyncio.sleep(0.01)
            (connection,) = gateway.connections
            assert connection.transport is not None
            accepted = connection.transport.get_extra_info("socket")
            options = [
                accepted.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
                accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
            ]
            writer.close()
            return options
        finally:
            await gateway.stop()

    expected = [1, server.KEEPALIVE_IDLE, server.KEEPALIVE_INTERVAL, server.KEEPALIVE_COUNT]
    assert asyncio.run(scenario()) == expected


def test_a_listener_remembers_its_allow_list_verdicts_and_keeps_them_right():
    import ipaddress

    from dockward.gateway import server
    from dockward.gateway.server import Listener

    listener = Listener(
        "tcp",
        "[::]:2376",
        networks=(ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")),
    )
    cases = {
        "10.1.2.3": True,
        "::ffff:10.1.2.3": True,  # IPv4-mapped, as a dual-stack listener reports it
        "fd00::1%eth0": True,
        "192.168.1.1": False,
        "::1": False,
    }
    for _ in range(2):  # the second round is answered from the remembered verdicts
        assert {address: listener.allows(address) for address in cases} == cases
    for n in range(server.ADDRESSES_KEPT + 10):  # bounded: many sources do not grow it forever
        listener.allows(f"192.168.{n >> 8 & 255}.{n & 255}")
    assert len(listener._verdicts) <= server.ADDRESSES_KEPT
    assert listener.allows("10.9.9.9") and not listener.allows("11.0.0.1")
