"""``docker top``'s ps options: only those that cannot print process environments."""

from __future__ import annotations

import re
from collections.abc import Iterator

from dockward.policy.profiles.request import Finding, Request

# ps options without an argument that print no environment, in ps's UNIX (-) and BSD spellings.
# No "e": BSD e prints every process's environment, and procps re-reads *every* argument the
# BSD way (so -e becomes e) when any one of them fails to parse, which a combination of valid
# options can (-eHT).
_PS_UNIX_LETTERS = frozenset("AacdfFHjlLMTwyZ")
_PS_BSD_LETTERS = frozenset("acfhjlmrsSuvwxX")
_PS_FORMAT_OPTIONS = frozenset({"-o", "o", "-O", "O", "--format", "--sort"})
_PS_NUMBER_OPTIONS = frozenset({"--cols", "--columns", "--width"})
_PS_FLAG_OPTIONS = frozenset({"--forest"})
# procps format specifiers; "environ" (and anything unknown) is not among them.
_PS_FORMAT_SPECS = frozenset(
    {
        "pid",
        "ppid",
        "pgid",
        "pgrp",
        "sid",
        "sess",
        "tid",
        "lwp",
        "spid",
        "nlwp",
        "thcount",
        "tgid",
        "user",
        "euser",
        "ruser",
        "suser",
        "fuser",
        "uid",
        "euid",
        "ruid",
        "suid",
        "fuid",
        "uname",
        "group",
        "egroup",
        "rgroup",
        "sgroup",
        "fgroup",
        "gid",
        "egid",
        "rgid",
        "sgid",
        "fgid",
        "comm",
        "ucomm",
        "ucmd",
        "fname",
        "args",
        "cmd",
        "command",
        "etime",
        "etimes",
        "time",
        "cputime",
        "cputimes",
        "start",
        "start_time",
        "lstart",
        "stime",
        "bsdstart",
        "bsdtime",
        "stat",
        "state",
        "s",
        "%cpu",
        "pcpu",
        "c",
        "cp",
        "%mem",
        "pmem",
        "vsz",
        "vsize",
        "rss",
        "rssize",
        "rsz",
        "sz",
        "size",
        "drs",
        "trs",
        "tty",
        "tt",
        "tname",
        "pri",
        "priority",
        "ni",
        "nice",
        "psr",
        "rtprio",
        "policy",
        "sched",
        "class",
        "cls",
        "wchan",
        "nwchan",
        "f",
        "flags",
        "flag",
        "label",
        "cgroup",
        "cgname",
        "majflt",
        "maj_flt",
        "minflt",
        "min_flt",
        "pending",
        "blocked",
        "ignored",
        "caught",
        "sig",
        "sigmask",
        "sigcatch",
        "sigignore",
    }
)
_PS_SPEC = re.compile(r"[+-]?(?P<name>[%a-z_]+)(?::[0-9]{1,4})?")


def _ps_token_problem(token: str) -> str | None:
    if token in _PS_FLAG_OPTIONS:
        return None
    if token.startswith("-") and not token.startswith("--") and len(token) > 1:
        letters = token[1:]
        allowed = _PS_UNIX_LETTERS
    elif token and token[0].isalpha():
        letters, allowed = token, _PS_BSD_LETTERS
    else:
        return f'holds "{token}", which is not a ps option dockward allows'
    if "e" in letters:
        return (
            f"holds \"{token}\": ps's e prints each process's environment (and -e is read as e "
            "when ps falls back to BSD options); leave ps_args out for dockerd's default, -ef"
        )
    unknown = [letter for letter in letters if letter not in allowed]
    if unknown:
        return f'holds "{token}": "{unknown[0]}" is not a ps option dockward allows'
    return None


def _ps_args_problem(ps_args: str) -> str | None:
    """Why ``ps_args`` could print process environments (``None``: it cannot).

    dockerd splits ``ps_args`` on single spaces and runs the host's ps with the pieces.
    """
    tokens = ps_args.split(" ")
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token in _PS_FORMAT_OPTIONS or token in _PS_NUMBER_OPTIONS:
            if index + 1 >= len(tokens):
                return f'ends with "{token}", which needs a value'
            value = tokens[index + 1]
            if token in _PS_NUMBER_OPTIONS:
                if not value.isdigit():
                    return f'gives "{token}" the value "{value}", which is not a number'
            else:
                for spec in value.split(","):
                    match = _PS_SPEC.fullmatch(spec)
                    if match is None or match["name"] not in _PS_FORMAT_SPECS:
                        return (
                            f'asks ps for "{spec}", which is not a format dockward allows '
                            "(environ prints each process's environment)"
                        )
            index += 2
            continue
        problem = _ps_token_problem(token)
        if problem is not None:
            return problem
        index += 1
    return None


def ps_args(req: Request) -> Iterator[Finding]:
    """``docker top``'s ps options: none that print process environments (BSD ``e``).

    The environment is what inspect redacts; a role with the ``secrets`` grant may see it.
    """
    ps_args = req.first("ps_args")
    if not ps_args or req.settings.secrets:
        return
    problem = _ps_args_problem(ps_args)
    if problem is not None:
        yield "query ps_args", problem
