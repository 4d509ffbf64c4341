"""A classic build's Dockerfile read from its context as dockerd reads it: FROM images found."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import tarfile

import pytest

from dockward.policy.build_context import BuildContext, dockerfile_images, read_context

LIMIT = 1 << 20


def _tar(*entries: tuple[str, bytes | None], link: str = "") -> bytes:
    """A tar of (name, content) files; content None: a symlink to ``link``."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return out.getvalue()


def _images(context: BuildContext) -> list[str]:
    assert context.problem == "", context.problem
    return [image for image, _ in context.images]


def test_from_lines_name_their_images_and_earlier_stages_are_not_images() -> None:
    text = (
        "# syntax=docker/dockerfile:1\n"
        "FROM --platform=linux/amd64 golang:1.22 AS build\n"
        "RUN make\n"
        "from build as test\n"
        "FROM scratch\n"
        "COPY --from=build /out /out\n"
        "COPY --from=0 /a /a\n"
        "COPY --chown=1 --from=tools:1 /bin/x /x\n"
        "FROM\tbase-img\n"
    )
    assert [i for i, _ in dockerfile_images(text, {})] == ["golang:1.22", "tools:1", "base-img"]


def test_arg_values_before_from_are_substituted_and_build_args_override_them() -> None:
    text = "ARG REPO=team/app\nARG TAG\nFROM ${REPO}:${TAG:-v1}\nFROM $REPO-${TAG:+x}\n"
    assert [i for i, _ in dockerfile_images(text, {})] == ["team/app:v1", "team/app-"]
    given = {"TAG": "v2", "REPO": "other"}
    assert [i for i, _ in dockerfile_images(text, given)] == ["other:v2", "other-x"]


@pytest.mark.parametrize(
    "text",
    [
        "FROM ${UNSET}\n",
        "ARG X\nFROM app:${X}\n",
        'ARG X="quoted"\nFROM $X\n',
        "FROM app\\\nX\n" + "FROM a\\$b\n",
        "FROM app AS\n",
        "COPY --from=${X} / /\n",
        "# escape=!\nFROM app\n",
    ],
)
def test_a_from_dockward_cannot_read_exactly_is_a_problem(text: str) -> None:
    context = read_context(_tar(("Dockerfile", text.encode())), {}, LIMIT)
    assert context.problem and context.images == ()


def test_an_unknown_directive_ends_the_directives_as_dockerd_reads_them() -> None:
    # dockerd takes "# escape=`" for a comment here: the backslash continues the FROM line
    text = "# foo=bar\n# escape=`\nFROM busybox AS s \\\n  \nFROM img-a\n"
    with pytest.raises(Exception, match="not IMAGE"):
        dockerfile_images(text, {})
    assert [i for i, _ in dockerfile_images("ONBUILD COPY --from=img-a / /\n", {})] == ["img-a"]


def test_continuations_comments_and_the_escape_directive() -> None:
    text = "# escape=`\nARG A=b\n# a comment\nFROM `\n  # inside\n\n  img-$A `\n  AS s\n"
    assert [i for i, _ in dockerfile_images(text, {})] == ["img-b"]


def test_the_dockerfile_query_names_the_file_and_a_later_entry_replaces_an_earlier() -> None:
    tar = _tar(
        ("Dockerfile", b"FROM innocent\n"),
        ("ci/Build.df", b"FROM other\n"),
        ("./Dockerfile", b"FROM sneaky\n"),
    )
    assert _images(read_context(tar, {}, LIMIT)) == ["sneaky"]
    assert _images(read_context(tar, {"dockerfile": ["./ci/../ci/Build.df"]}, LIMIT)) == ["other"]


def test_an_entry_after_one_tarfile_cannot_read_is_not_taken_for_the_end() -> None:
    tar = bytearray(_tar(("a", b"x"), ("Dockerfile", b"FROM hidden\n")))
    tar[1024 + 148 : 1024 + 150] = b"99"  # the second header's checksum: dockerd fails it
    assert "cannot read at 1024" in read_context(bytes(tar), {}, LIMIT).problem
    one_zero_block = _tar(("a", b"x"))[:1024] + b"\0" * 512 + _tar(("Dockerfile", b"FROM y\n"))
    assert "cannot read" in read_context(one_zero_block, {}, LIMIT).problem


def test_a_lower_case_dockerfile_is_read_when_there_is_no_dockerfile() -> None:
    assert _images(read_context(_tar(("dockerfile", b"FROM low\n")), {}, LIMIT)) == ["low"]


@pytest.mark.parametrize(
    ("tar", "query", "words"),
    [
        (_tar(("other", b"FROM x\n")), {}, "no Dockerfile"),
        (_tar(("Dockerfile", None)), {}, "not a regular file"),
        (
            _tar(("d", None), ("d/Dockerfile", b"FROM x\n")),
            {"dockerfile": ["d/Dockerfile"]},
            "link",
        ),
        (b"not a tar at all" * 64, {}, "not a readable tar"),
        (b"\x28\xb5\x2f\xfd" + b"\0" * 100, {}, "zstd"),
        (gzip.compress(_tar(("Dockerfile", b"FROM x\n")))[:-9], {}, "gzip"),
        (_tar(("Dockerfile", b"FROM x\n")), {"buildargs": ["[1]"]}, "buildargs"),
    ],
)
def test_an_unreadable_context_is_a_problem(tar: bytes, query: dict, words: str) -> None:  # type: ignore[type-arg]
    context = read_context(tar, query, LIMIT)
    assert words in context.problem and context.images == ()


@pytest.mark.parametrize(
    "compress",
    [
        gzip.compress,
        bz2.compress,
        lzma.compress,
        lambda b: gzip.compress(b[:700]) + gzip.compress(b[700:]),
    ],
    ids=["gzip", "bzip2", "xz", "gzip-two-members"],
)
def test_compressed_contexts_are_read(compress) -> None:  # type: ignore[no-untyped-def]
    tar = _tar(("big", b"x" * 600), ("Dockerfile", b"FROM squeezed\n"))
    assert _images(read_context(compress(tar), {}, LIMIT)) == ["squeezed"]


def test_a_decompression_bomb_stops_at_the_limit() -> None:
    bomb = gzip.compress(_tar(("zeros", b"\0" * (4 * LIMIT)), ("Dockerfile", b"FROM x\n")))
    assert len(bomb) < LIMIT
    assert "larger than" in read_context(bomb, {}, LIMIT).problem


def test_part_of_a_context_is_never_read() -> None:
    tar = _tar(("Dockerfile", b"FROM first\n"))
    context = read_context(tar, {}, 10, whole=False)
    assert context.images == () and "larger than 10 bytes" in context.problem


def test_build_args_arrive_as_dockerd_takes_them() -> None:
    tar = _tar(("Dockerfile", b"ARG BASE=a\nFROM $BASE\n"))
    query = {"buildargs": [json.dumps({"BASE": "b", "OTHER": None})]}
    assert _images(read_context(tar, query, LIMIT)) == ["b"]
