"""Tests for dockward.policy.images: image references normalised as dockerd normalises them."""

from __future__ import annotations

import pytest

from dockward.policy.images import (
    ImageReference,
    looks_like_image_id,
    parse_image_reference,
    registry_allows,
)

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("reference", "name", "tag", "digest"),
    [
        ("busybox", "docker.io/library/busybox", None, None),
        ("busybox:1.36", "docker.io/library/busybox", "1.36", None),
        ("library/busybox", "docker.io/library/busybox", None, None),
        ("docker.io/busybox", "docker.io/library/busybox", None, None),
        ("index.docker.io/library/busybox", "docker.io/library/busybox", None, None),
        ("user/app", "docker.io/user/app", None, None),
        ("registry.example.com/team/app:v1", "registry.example.com/team/app", "v1", None),
        ("localhost/app", "localhost/app", None, None),
        ("localhost:5000/app", "localhost:5000/app", None, None),
        ("host:5000/app", "host:5000/app", None, None),
        ("[::1]:5000/app", "[::1]:5000/app", None, None),
        ("Registry.Example.com/app", "Registry.Example.com/app", None, None),
        (f"busybox@{DIGEST}", "docker.io/library/busybox", None, DIGEST),
        (f"busybox:1.36@{DIGEST}", "docker.io/library/busybox", "1.36", DIGEST),
    ],
)
def test_references_normalise_like_dockerd(
    reference: str, name: str, tag: str | None, digest: str | None
) -> None:
    parsed = parse_image_reference(reference)
    assert parsed == ImageReference(name, tag, digest)
    assert str(parsed).startswith(name)


@pytest.mark.parametrize(
    "reference",
    [
        "",
        "Busybox",
        "user/App",
        "a" * 64,
        "busybox:",
        "busybox@sha256:xyz",
        "-x",
        "a//b",
        "a" * 256,
    ],
)
def test_invalid_references_are_refused(reference: str) -> None:
    with pytest.raises(ValueError):
        parse_image_reference(reference)


def test_pinned_means_a_sha256_digest() -> None:
    assert parse_image_reference(f"evil/miner@{DIGEST}").pinned
    assert not parse_image_reference("busybox:latest").pinned
    assert not parse_image_reference("busybox@sha512:" + "a" * 128).pinned


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("a" * 64, True),
        ("sha256:" + "a" * 64, True),
        ("sha256:abc", True),
        ("deadbeef", True),
        ("busybox", False),
        ("deadbeef:latest", False),
        ("user/deadbeef", False),
    ],
)
def test_image_ids_are_recognised(reference: str, expected: bool) -> None:
    assert looks_like_image_id(reference) is expected


@pytest.mark.parametrize(
    ("reference", "prefixes", "expected"),
    [
        ("registry.example.com/team/app", ("registry.example.com/",), "registry.example.com/"),
        ("registry.example.com/team/app", ("registry.example.com",), "registry.example.com"),
        ("registry.example.com.evil.net/app", ("registry.example.com",), None),
        ("registry.example.com.evil.net/app", ("registry.example.com/",), None),
        ("busybox", ("docker.io/library/",), "docker.io/library/"),
        ("busybox:1", ("docker.io/library/busybox",), "docker.io/library/busybox"),
        ("busybox2", ("docker.io/library/busybox",), None),
        ("evil/busybox", ("docker.io/library/",), None),
        ("busybox", (), None),
    ],
)
def test_registry_prefixes_match_whole_components(
    reference: str, prefixes: tuple[str, ...], expected: str | None
) -> None:
    assert registry_allows(parse_image_reference(reference), prefixes) == expected
