"""A pytest plugin that keeps the suite's temporary files out of /tmp and removes them at the end.

pytest's own temporary directories live under /tmp/pytest-of-USER, and it keeps the last three
sessions' (a single run of the suite leaves about 400 MB: the save/load test's image archives).
Here each session gets ``.pytest-tmp/PID`` in the checkout as its ``--basetemp``, removed when the
session ends however it ends; a directory left by a session that was killed (its process is gone)
is removed by the next one. An explicit ``--basetemp`` is the user's and is left alone.

SIGTERM (a CI timeout, ``kill``) ends the session like Ctrl-C, so that fixtures are torn down and
exit handlers run: the private dockerd and the gateway scratch directories under /tmp go too.

Loaded by ``tests/conftest.py``; a test can load it into a pytest subprocess with
``-p support.scratch``.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path
from types import FrameType

import pytest

SCRATCH_ROOT = Path(__file__).resolve().parents[2] / ".pytest-tmp"
_OWNED = pytest.StashKey[Path]()
_HANDLES_SIGTERM = pytest.StashKey[bool]()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_abandoned(root: Path) -> None:
    """Remove the directories of sessions whose process is gone (killed with SIGKILL, say)."""
    for path in root.iterdir():
        if path.name.isdigit() and not _alive(int(path.name)):
            shutil.rmtree(path, ignore_errors=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@pytest.hookimpl(tryfirst=True)  # before pytest's tmpdir plugin reads --basetemp
def pytest_configure(config: pytest.Config) -> None:
    if config.option.basetemp is None:
        SCRATCH_ROOT.mkdir(exist_ok=True)
        _remove_abandoned(SCRATCH_ROOT)
        basetemp = SCRATCH_ROOT / str(os.getpid())
        config.option.basetemp = str(basetemp)
        config.stash[_OWNED] = basetemp
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)
        config.stash[_HANDLES_SIGTERM] = True


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # After the session's fixtures are torn down, whether the tests passed or not.
    if config.stash.get(_HANDLES_SIGTERM, False):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    basetemp = config.stash.get(_OWNED, None)
    if basetemp is not None:
        # .pytest-tmp itself stays: removing it could race with a session starting.
        shutil.rmtree(basetemp, ignore_errors=True)
