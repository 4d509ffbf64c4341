"""dockward.policy.outbound: the hosts a request makes the daemon contact, and the rules."""

from __future__ import annotations

import ipaddress

import pytest

from dockward.policy.outbound import (
    Destination,
    OutboundRules,
    Resolution,
    auth_destination,
    is_public,
    log_destination,
    parse_allow_entry,
    parse_destination,
    search_destination,
    url_destination,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("registry.example.com", Destination("registry.example.com")),
        ("Registry.Example.com:5000", Destination("registry.example.com", 5000)),
        ("127.0.0.1:5000", Destination("127.0.0.1", 5000)),
        ("[::1]:5000", Destination("::1", 5000)),
        ("::1", Destination("::1")),
        ("[0:0::1]", Destination("::1")),
        ("localhost", Destination("localhost")),
        ("host:99999", None),
        ("a b", None),
        ("", None),
        ("[nothex]:1", None),
    ],
)
def test_parse_destination(text: str, expected: Destination | None) -> None:
    assert parse_destination(text) == expected


def test_an_ipv4_mapped_address_is_judged_as_ipv4() -> None:
    mapped = Destination("::ffff:127.0.0.1")
    assert mapped.address == ipaddress.ip_address("127.0.0.1")
    problem = OutboundRules().problem(mapped, None, public_ok=True)
    assert problem is not None and "loopback" in problem


@pytest.mark.parametrize(
    ("address", "public"),
    [("8.8.8.8", True), ("2001:4860:4860::8888", True), ("127.0.0.1", False),
     ("10.0.0.1", False), ("172.16.0.1", False), ("192.168.1.1", False),
     ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False),
     ("224.0.0.1", False), ("::1", False), ("fe80::1", False), ("fd00::1", False),
     ("::ffff:10.0.0.1", False)],
)  # fmt: skip
def test_is_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("busybox", None),
        ("library/busybox", None),
        ("LOCALHOST/x", None),  # not "localhost", no dot, no colon: Docker Hub for dockerd
        ("localhost/x", Destination("localhost")),
        ("127.0.0.1:5000/x", Destination("127.0.0.1", 5000)),
        ("registry.example.com/team/app", Destination("registry.example.com")),
    ],
)
def test_search_destination(term: str, expected: Destination | None) -> None:
    assert search_destination(term) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000/x.tar", Destination("127.0.0.1", 8000)),
        ("example.com/x.tar", Destination("example.com")),
        ("https://[::1]/x", Destination("::1")),
        ("git@github.com:moby/moby.git", Destination("github.com")),
        ("github.com/moby/moby", Destination("github.com")),
        ("git://git.example.com/r", Destination("git.example.com")),
        ("http://u:p@Example.COM:99/", Destination("example.com", 99)),
        ("http://:80/", None),
        ("http://h:notaport/", None),
    ],
)
def test_url_destination(url: str, expected: Destination | None) -> None:
    assert url_destination(url) == expected


def test_auth_destination() -> None:
    assert auth_destination("") is None
    assert auth_destination("https://index.docker.io/v1/") == Destination("index.docker.io")
    assert auth_destination("10.0.0.1:5000") == Destination("10.0.0.1", 5000)


@pytest.mark.parametrize(
    ("driver", "options", "expected"),
    [
        ("json-file", {"max-size": "1m"}, None),
        ("syslog", {}, None),
        ("syslog", {"syslog-address": "unix:///dev/log"}, None),
        ("syslog", {"Syslog-Address": "tcp://127.0.0.1:514"}, Destination("127.0.0.1", 514)),
        ("gelf", {"gelf-address": "udp://[::1]:12201"}, Destination("::1", 12201)),
        ("fluentd", {}, Destination("localhost", 24224)),
        ("fluentd", {"fluentd-address": "10.0.0.1:24224"}, Destination("10.0.0.1", 24224)),
        ("splunk", {"splunk-url": "https://s:8088"}, Destination("s", 8088)),
    ],
)
def test_log_destination(
    driver: str, options: dict[str, str], expected: Destination | None
) -> None:
    assert log_destination(driver, options) == expected


@pytest.mark.parametrize(
    ("driver", "options"),
    [("awslogs", {}), ("gelf", {}), ("fluentd", {"fluentd-address": "unix:///x"}),
     ("", {"gelf-address": "udp://x:1"}), ("JSON-FILE", {})],
)  # fmt: skip
def test_log_drivers_refused_outright(driver: str, options: dict[str, str]) -> None:
    assert isinstance(log_destination(driver, options), str)


def test_allow_entries() -> None:
    rules = OutboundRules.parse(["registry.internal", "127.0.0.1:5000", "10.0.0.0/8", "::1"])
    assert rules.names(Destination("registry.internal", 443))
    assert rules.names(Destination("127.0.0.1", 5000))
    assert not rules.names(Destination("127.0.0.1", 5001))
    assert rules.names(Destination("10.2.3.4", 80)) and rules.names(Destination("::1", 1))
    assert not rules.names(Destination("registry.internal.evil.net"))
    with pytest.raises(ValueError, match="not a host"):
        parse_allow_entry("http://registry/")


def test_a_registry_name_passes_only_when_every_address_is_public_or_listed() -> None:
    rules = OutboundRules.parse(["10.0.0.0/8"])
    name = Destination("r.example")
    both = Resolution((ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("10.1.1.1")))
    assert rules.problem(name, both, public_ok=True) is None
    private = Resolution((ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("192.168.0.1")))
    assert "192.168.0.1, a private address" in (rules.problem(name, private, public_ok=True) or "")
    assert rules.problem(name, None, public_ok=True) is None  # does not resolve
    assert rules.problem(Destination("docker.io"), None, public_ok=True) is None
    assert rules.problem(name, both, public_ok=False) == (
        "which is not in the role's outbound allow-list"
    )
