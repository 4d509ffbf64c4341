"""The images a classic build's Dockerfile names, read from its build context (a tar).

Under a scoped role the relay collects a ``POST /build`` body (at most the policy's
``build_context_limit``) before it decides; ``read_context`` finds the Dockerfile in it as
dockerd will and lists every image its ``FROM`` lines and ``COPY --from`` flags name, for
tenancy to judge like any other image reference. The whole context is read, not a prefix:
dockerd extracts every entry, so a later entry of the same path replaces an earlier one.

What dockerd does, and so what is done here (moby ``builder/remotecontext``, ``pkg/archive``):

* a context may be compressed: gzip, bzip2 and xz are read (``DecompressStream`` detects them
  by their magic bytes), zstd is not and makes the context unreadable;
* entry names are cleaned (``./Dockerfile``, ``a/../Dockerfile`` are ``Dockerfile``); the
  Dockerfile is the ``dockerfile`` query's path (default ``Dockerfile``, then ``dockerfile``
  when no ``Dockerfile`` exists); a link, or a path through a linked directory, is unreadable;
* ``ARG`` before the first ``FROM`` declares the values ``FROM`` may use, overridden by the
  ``buildargs`` query. A variable without a value, or any form this reader does not follow
  (the escape character in a ``FROM``, quoted values), makes the Dockerfile unreadable rather
  than risk reading a name other than dockerd's.

Anything unreadable is a ``problem``: tenancy refuses it unless the role has
``unread_dockerfile = "allow"``. Pure: bytes in, a value out; no I/O.
"""

from __future__ import annotations

import bz2
import io
import json
import lzma
import posixpath
import re
import tarfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_DOCKERFILE = "Dockerfile"

_GZIP = b"\x1f\x8b\x08"
_BZIP2 = b"BZh"
_XZ = b"\xfd7zXZ\x00"
_ZSTD = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True, slots=True)
class BuildContext:
    """A classic build's context as tenancy judges it: the images named, or why unread."""

    images: tuple[tuple[str, str], ...] = ()  # (reference, where it is written)
    problem: str = ""


class _Unreadable(Exception):
    pass


def read_context(
    body: bytes, query: Mapping[str, list[str]], limit: int, *, whole: bool = True
) -> BuildContext:
    """The images the context's Dockerfile names, or the ``problem`` that stops reading it.

    ``whole`` is false when ``body`` is only the first ``limit`` bytes of a longer context:
    a later entry could replace anything read in it, so nothing is read.
    """
    if not whole:
        return BuildContext(problem=f"the build context is larger than {limit} bytes")
    try:
        tar = _decompressed(body, limit)
        path = _dockerfile_path(query)
        text = _dockerfile(tar, path)
        return BuildContext(images=tuple(dockerfile_images(text, _build_args(query))))
    except _Unreadable as err:
        return BuildContext(problem=str(err))


# --- the archive ---------------------------------------------------------------------------


def _decompressed(body: bytes, limit: int) -> bytes:
    if body.startswith(_ZSTD):
        raise _Unreadable("the build context is zstd-compressed, which dockward cannot read")
    if body.startswith(_GZIP):
        return _inflate(body, limit, lambda: zlib.decompressobj(wbits=31), "gzip")
    if body.startswith(_BZIP2):
        return _inflate(body, limit, bz2.BZ2Decompressor, "bzip2")
    if body.startswith(_XZ):
        return _inflate(body, limit, lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ), "xz")
    return body


def _inflate(body: bytes, limit: int, make, name: str) -> bytes:  # type: ignore[no-untyped-def]
    out = bytearray()
    data = body
    while data:  # concatenated streams are read on, as Go's readers do
        decompressor = make()
        try:
            out += decompressor.decompress(data, limit + 1 - len(out))
        except (zlib.error, OSError, lzma.LZMAError, EOFError) as err:
            raise _Unreadable(f"the {name}-compressed build context is corrupt: {err}") from None
        if len(out) > limit:
            raise _Unreadable(f"the build context is larger than {limit} bytes once decompressed")
        if not decompressor.eof:
            raise _Unreadable(f"the {name}-compressed build context is truncated")
        data = decompressor.unused_data
    return bytes(out)


def _clean(name: str) -> str:
    return posixpath.normpath("/" + name).lstrip("/")


def _dockerfile_path(query: Mapping[str, list[str]]) -> str:
    values = query.get("dockerfile")
    return _clean(values[0]) if values and values[0] else DEFAULT_DOCKERFILE


def _dockerfile(tar: bytes, path: str) -> str:
    """The text of the Dockerfile at ``path`` in the tar, as dockerd would read it."""
    entries: dict[str, tarfile.TarInfo] = {}
    contents: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as archive:
            for member in archive:
                name = _clean(member.name)
                entries[name] = member  # a later entry of the same path replaces the earlier
                if member.isreg() and name.lower() == path.lower():
                    extracted = archive.extractfile(member)
                    contents[name] = extracted.read() if extracted is not None else b""
            if tar[archive.offset :].strip(b"\0"):
                # tarfile ends quietly at a header it cannot read; dockerd reads on or fails
                raise _Unreadable(
                    f"the build context has an entry dockward cannot read at {archive.offset}"
                )
    except tarfile.TarError as err:
        raise _Unreadable(f"the build context is not a readable tar archive: {err}") from None
    if path not in entries and path == DEFAULT_DOCKERFILE and "dockerfile" in entries:
        path = "dockerfile"
    found = entries.get(path)
    if found is None:
        raise _Unreadable(f"the build context has no Dockerfile at {path!r}")
    parent = posixpath.dirname(path)
    while parent:
        above = entries.get(parent)
        if above is not None and not above.isdir():
            raise _Unreadable(f"the Dockerfile's directory {parent!r} is a link")
        parent = posixpath.dirname(parent)
    if not found.isreg():
        raise _Unreadable(f"the Dockerfile {path!r} is not a regular file (a link?)")
    try:
        return contents[path].decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise _Unreadable(f"the Dockerfile {path!r} is not UTF-8 text") from None


def _build_args(query: Mapping[str, list[str]]) -> dict[str, str | None]:
    values = query.get("buildargs")
    if not values or not values[0]:
        return {}
    try:
        document = json.loads(values[0])
    except ValueError:
        raise _Unreadable("query buildargs is not a JSON object") from None
    if not isinstance(document, dict) or not all(
        v is None or isinstance(v, str) for v in document.values()
    ):
        raise _Unreadable("query buildargs is not a JSON object of strings")
    return document


# --- the Dockerfile ------------------------------------------------------------------------

_DIRECTIVE = re.compile(r"#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_KNOWN_DIRECTIVES = frozenset({"escape", "syntax", "check"})
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9._:/@+-]*")
_VARIABLE = re.compile(
    r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, rest) for each logical line, comments and continuations resolved."""
    escape = "\\"
    lines = text.splitlines()
    start = 0
    while start < len(lines):  # parser directives: only at the very top
        match = _DIRECTIVE.match(lines[start].strip())
        if match is None or match.group(1).lower() not in _KNOWN_DIRECTIVES:
            break  # an unknown directive is a comment, and ends the directives
        if match.group(1).lower() == "escape":
            if match.group(2) not in ("\\", "`"):
                raise _Unreadable(f"the Dockerfile's escape directive {match.group(2)!r}")
            escape = match.group(2)
        start += 1
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in lines[start:]:
        stripped = line.strip()
        if stripped.startswith("#") or (pending and not stripped):
            continue  # a comment, or an empty line inside a continuation
        body = line.rstrip()
        if body.endswith(escape):
            pending += body[: -len(escape)]
            continue
        logical = (pending + line).strip()
        pending = ""
        if logical:
            instructions.append(_instruction(logical))
    if pending.strip():
        instructions.append(_instruction(pending.strip()))
    return instructions


def _instruction(logical: str) -> tuple[str, str]:
    word, *rest = logical.split(None, 1)
    if word.upper() == "ONBUILD" and rest:
        return _instruction(rest[0])  # a trigger's COPY --from names an image too
    return word.upper(), rest[0] if rest else ""


def _expand(text: str, values: Mapping[str, str | None], where: str) -> str:
    if "\\" in text or "`" in text or "'" in text or '"' in text:
        raise _Unreadable(f"{where} {text!r}: quotes and escapes are not read by dockward")

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        known = values.get(name)
        operator, word = match.group(2), match.group(3) or ""
        if operator == ":-":
            return known if known else word
        if operator == ":+":
            return word if known else ""
        if known is None:
            raise _Unreadable(f"{where} {text!r}: ${{{name}}} has no value dockward can read")
        return known

    expanded = _VARIABLE.sub(value, text)
    if "$" in expanded:
        raise _Unreadable(f"{where} {text!r}: a variable dockward cannot read")
    return expanded


def dockerfile_images(text: str, build_args: Mapping[str, str | None]) -> list[tuple[str, str]]:
    """Every image a Dockerfile names: ``FROM`` bases and ``COPY --from`` sources that are
    not earlier stages, ARG values substituted (``build_args`` override their defaults)."""
    meta: dict[str, str | None] = {}
    stages: list[str] = []
    images: list[tuple[str, str]] = []
    seen_from = False
    for instruction, rest in _instructions(text):
        if instruction == "ARG" and not seen_from:
            for declaration in rest.split():
                name, has_default, default = declaration.partition("=")
                if not _PLAIN_VALUE.fullmatch(default):
                    default = ""
                    has_default = ""  # a quoted or escaped default is not read
                given = build_args.get(name)
                meta[name] = given if given is not None else (default if has_default else None)
        elif instruction == "FROM":
            seen_from = True
            words = [w for w in rest.split() if not w.startswith("--")]
            if not words:
                raise _Unreadable("a FROM without an image")
            image = _expand(words[0], meta, "FROM")
            if len(words) == 3 and words[1].lower() == "as":
                stage = words[2].lower()
            elif len(words) == 1:
                stage = ""
            else:
                raise _Unreadable(f"FROM {rest!r} is not IMAGE [AS NAME]")
            if image.lower() != "scratch" and image.lower() not in stages:
                images.append((image, "Dockerfile FROM"))
            if stage:
                stages.append(stage)
        elif instruction in ("COPY", "ADD"):
            for word in rest.split():
                if not word.startswith("--"):
                    break
                if word.lower().startswith("--from="):
                    source = word.partition("=")[2]
                    if "$" in source:
                        raise _Unreadable(f"COPY {word!r}: a variable dockward cannot read")
                    if source.lower() not in stages and not source.isdigit():
                        images.append((source, "Dockerfile COPY --from"))
    return list(dict.fromkeys(images))
