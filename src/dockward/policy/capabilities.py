"""Linux capability names read the way dockerd reads them (``oci/caps``).

dockerd upper-cases each name (Go's ``strings.ToUpper``, so ``ſys_admin`` is ``SYS_ADMIN``),
keeps ``ALL`` as is and adds the ``CAP_`` prefix where it is missing; anything else that is not
a capability it knows is an error. ``DEFAULT_CAPABILITIES`` is the set a container gets without
``CapAdd`` (moby ``oci/caps/defaults.go``, unchanged from Docker 20.10 to 28).

Pure functions; no I/O.
"""

from __future__ import annotations

__all__ = ["ALL", "DEFAULT_CAPABILITIES", "go_to_upper", "normalize_capability"]

ALL = "ALL"

DEFAULT_CAPABILITIES: frozenset[str] = frozenset(
    {
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    }
)


def go_to_upper(text: str) -> str:
    """Go's ``strings.ToUpper``: each rune's *simple* upper-case mapping.

    Python's ``str.upper`` applies the full mappings (``ß`` -> ``SS``); where those differ the
    rune is kept. The simple mapping of such runes (``ᾳ`` -> ``ᾼ``) is never ASCII, so the
    result can never spell a capability where Go's would not.
    """
    if text.isascii():
        return text.upper()
    return "".join(upper if len(upper := char.upper()) == 1 else char for char in text)


def normalize_capability(name: str) -> str:
    """``caps.NormalizeLegacyCapabilities`` for one name: ``sys_admin`` -> ``CAP_SYS_ADMIN``."""
    upper = go_to_upper(name)
    if upper == ALL or upper.startswith("CAP_"):
        return upper
    return "CAP_" + upper
