"""Target parsing: every accepted form, every refusal, lazy expansion and exclusions."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockward.errors import UsageError
from dockward.scan.targets import (
    DEFAULT_PORTS,
    Endpoint,
    parse_ports,
    parse_target,
    parse_targets,
)


def test_default_ports_are_the_docker_ones() -> None:
    assert DEFAULT_PORTS == (2375, 2376, 2377, 4243)


@pytest.mark.parametrize(
    ("text", "ports"),
    [
        ("2375", (2375,)),
        ("2376,2375,2376", (2375, 2376)),
        ("2375-2377, 4243", (2375, 2376, 2377, 4243)),
    ],
)
def test_parse_ports(text: str, ports: tuple[int, ...]) -> None:
    assert parse_ports(text) == ports


@pytest.mark.parametrize("text", ["", "0", "65536", "abc", "10-5", "1-2-3", ","])
def test_bad_ports_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--ports"):
        parse_ports(text)


@pytest.mark.parametrize(
    ("text", "hosts", "port"),
    [
        ("127.0.0.1", ["127.0.0.1"], None),
        ("127.0.0.1:2376", ["127.0.0.1"], 2376),
        ("::1", ["::1"], None),
        ("[::1]:2375", ["::1"], 2375),
        ("localhost", ["localhost"], None),
        ("Docker-Host.example.:2376", ["docker-host.example"], 2376),
        ("127.1.0.0/30", ["127.1.0.0", "127.1.0.1", "127.1.0.2", "127.1.0.3"], None),
        ("127.1.0.5/30", ["127.1.0.4", "127.1.0.5", "127.1.0.6", "127.1.0.7"], None),
        ("::1/127", ["::", "::1"], None),
    ],
)
def test_parse_target(text: str, hosts: list[str], port: int | None) -> None:
    spec = parse_target(text)
    assert list(spec.hosts()) == hosts
    assert spec.port == port


@pytest.mark.parametrize(
    "text",
    ["", "bad_host!", "1.2.3.4.5", "300.1.1.1", "10.0.0.0/33", "host:0", "host:99999",
     "[::1", "[::1]x", "10.0.0.0/7", "::/64"],
)  # fmt: skip
def test_bad_targets_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_target(text)


def test_targets_times_ports_lazily_with_exclusions() -> None:
    targets = parse_targets(["127.1.0.0/22"], (2375, 2376), ["127.1.0.0/24", "127.1.3.255"])
    assert targets.upper_bound() == 1024 * 2
    endpoints = list(targets)
    assert len(endpoints) == (1024 - 256 - 1) * 2
    assert endpoints[0] == Endpoint("127.1.1.0", 2375)
    assert Endpoint("127.1.3.255", 2375) not in endpoints


def test_host_with_port_ignores_ports_and_duplicates_collapse() -> None:
    targets = parse_targets(["127.0.0.1:9999", "127.0.0.1", "127.0.0.1"], (2375,))
    assert list(targets) == [Endpoint("127.0.0.1", 9999), Endpoint("127.0.0.1", 2375)]


def test_at_file_lists_targets_with_comments(tmp_path: Path) -> None:
    listing = tmp_path / "hosts.txt"
    listing.write_text("# build hosts\n127.0.0.1:2376  # the gateway\n\n[::1]:2375 localhost\n")
    targets = parse_targets([f"@{listing}"], (2375,), ["localhost"])
    assert [str(e) for e in targets] == ["127.0.0.1:2376", "[::1]:2375"]


def test_missing_file_and_port_exclusions_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read target file"):
        parse_targets([f"@{tmp_path / 'nope'}"])
    with pytest.raises(UsageError, match="not ports"):
        parse_targets(["127.0.0.1"], excludes=["127.0.0.1:2375"])
    with pytest.raises(UsageError, match="no targets"):
        parse_targets([])


def test_endpoint_string_brackets_ipv6() -> None:
    assert str(Endpoint("::1", 2376)) == "[::1]:2376"
    assert Endpoint("::1", 2376).is_ip and not Endpoint("localhost", 1).is_ip
