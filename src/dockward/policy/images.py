"""Image references read the way dockerd reads them (``distribution/reference``).

``parse_image_reference("busybox")`` is ``docker.io/library/busybox``, as the daemon's
``ParseNormalizedNamed`` makes it; ``registry_allows`` matches such a normalised name against an
operator's registry prefixes. ``looks_like_image_id`` spots strings that dockerd resolves as a
local image ID or ID prefix rather than as a name (``sha256:…``, bare hex), which no registry
prefix can vouch for.

Pure functions; no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ImageReference",
    "looks_like_image_id",
    "parse_image_reference",
    "registry_allows",
]

DEFAULT_DOMAIN = "docker.io"
_LEGACY_DEFAULT_DOMAIN = "index.docker.io"
_OFFICIAL_PREFIX = "library/"
_NAME_TOTAL_LENGTH_MAX = 255

# distribution/reference regexp.go, written out.
_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?")
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")
_SHA256_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_ID_LIKE = re.compile(r"(?:sha256:)?[a-f0-9]+")


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A normalised reference: ``name`` is ``domain/path`` (``docker.io/library/busybox``)."""

    name: str
    tag: str | None = None
    digest: str | None = None

    @property
    def domain(self) -> str:
        return self.name.partition("/")[0]

    @property
    def pinned(self) -> bool:
        """Pinned by a sha256 content digest (``…@sha256:<64 hex>``)."""
        return self.digest is not None and _SHA256_DIGEST.fullmatch(self.digest) is not None

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.name}{tag}{digest}"


def _split_docker_domain(name: str) -> tuple[str, str]:
    """``splitDockerDomain``: the first component is a domain only if it looks like one."""
    first, slash, rest = name.partition("/")
    if not slash or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == _LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = _OFFICIAL_PREFIX + remainder
    return domain, remainder


def parse_image_reference(reference: str) -> ImageReference:
    """``reference.ParseNormalizedNamed``; raises ``ValueError`` for what dockerd refuses."""
    if _IDENTIFIER.fullmatch(reference):
        raise ValueError(f"{reference!r} is a 64-character image ID, not a repository name")
    domain, remainder = _split_docker_domain(reference)
    repository = remainder.partition(":")[0].partition("@")[0]
    if repository.lower() != repository:
        raise ValueError(f"repository name {repository!r} must be lowercase")
    match = _REFERENCE.fullmatch(f"{domain}/{remainder}")
    if match is None:
        raise ValueError(f"{reference!r} is not a valid image reference")
    name = match.group("name")
    if len(name) > _NAME_TOTAL_LENGTH_MAX:
        raise ValueError(f"repository name of {reference!r} is longer than 255 characters")
    return ImageReference(name=name, tag=match.group("tag"), digest=match.group("digest"))


def looks_like_image_id(reference: str) -> bool:
    """dockerd would look ``reference`` up as a local image ID or ID prefix.

    ``GetImage`` treats 64 hex digits as an ID and, when no tag of that name exists, searches
    the image store for an ID starting with the string (``sha256:`` optional).
    """
    return _ID_LIKE.fullmatch(reference) is not None


def registry_allows(reference: ImageReference, prefixes: tuple[str, ...]) -> str | None:
    """The first prefix that ``reference.name`` lies under, matched by whole path components.

    ``registry.example.com/`` allows ``registry.example.com/team/app`` but not
    ``registry.example.com.evil.net/app``; ``docker.io/library/busybox`` allows that one
    repository under any tag.
    """
    name = reference.name + "/"
    for prefix in prefixes:
        if name.startswith(prefix if prefix.endswith("/") else prefix + "/"):
            return prefix
    return None
