"""Tests for dockward.policy.capabilities: capability names read as dockerd reads them."""

from __future__ import annotations

import pytest

from dockward.policy.capabilities import (
    ALL,
    DEFAULT_CAPABILITIES,
    go_to_upper,
    normalize_capability,
)


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        ("SYS_ADMIN", "CAP_SYS_ADMIN"),
        ("CAP_SYS_ADMIN", "CAP_SYS_ADMIN"),
        ("sys_admin", "CAP_SYS_ADMIN"),
        ("cap_sys_admin", "CAP_SYS_ADMIN"),
        ("Sys_Admin", "CAP_SYS_ADMIN"),
        ("ſys_admin", "CAP_SYS_ADMIN"),  # Go's ToUpper('ſ') is 'S'
        ("chown", "CAP_CHOWN"),
        ("ALL", ALL),
        ("all", ALL),
        ("CAP_ALL", "CAP_ALL"),  # not special: dockerd rejects it as unknown
    ],
)
def test_names_normalise_like_dockerd(name: str, normalized: str) -> None:
    assert normalize_capability(name) == normalized


def test_go_to_upper_keeps_runes_without_a_simple_upper_case() -> None:
    assert go_to_upper("ß") == "ß"  # Python's "SS" is a full mapping
    assert go_to_upper("ﬀ") == "ﬀ"
    assert go_to_upper("ı") == "I"
    assert go_to_upper("abc") == "ABC"


def test_default_set_is_moby_oci_caps_defaults() -> None:
    assert len(DEFAULT_CAPABILITIES) == 14
    assert {"CAP_NET_RAW", "CAP_MKNOD", "CAP_AUDIT_WRITE"} <= DEFAULT_CAPABILITIES
    assert not {"CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_PTRACE"} & DEFAULT_CAPABILITIES
