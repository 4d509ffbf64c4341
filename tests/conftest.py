"""Root test configuration: puts ``tests/`` on sys.path and provides the session-wide dockerd.

The ``dockerd`` fixture is lazy: only tests that request it (the end-to-end ones) start a
private Docker daemon; so is ``postgres`` (the audit store's PostgreSQL tests).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# Hypothesis' per-example deadline (200 ms) fails correct tests on a loaded 2-core machine;
# timing belongs in benchmarks, not in tests.
settings.register_profile("dockward", deadline=None)
settings.load_profile("dockward")

# A state directory chosen in the caller's environment must not leak into the tests.
os.environ.pop("DOCKWARD_STATE_DIR", None)

_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from support.dockerd import DockerDaemon  # noqa: E402
from support.images import BUSYBOX_TAG, build_busybox_image  # noqa: E402
from support.postgres import PostgresServer  # noqa: E402

# Temporary files in the checkout, removed when the session ends (see support/scratch.py).
pytest_plugins = ("support.scratch",)


@pytest.fixture(scope="session")
def dockerd() -> Iterator[DockerDaemon]:
    """A private dockerd (unix socket only, no bridge, dead proxy) for the whole session."""
    with DockerDaemon() as daemon:
        yield daemon


@pytest.fixture(scope="session")
def busybox_image(dockerd: DockerDaemon) -> str:
    """Tag of a busybox image imported into the session dockerd (built once)."""
    return build_busybox_image(dockerd, BUSYBOX_TAG)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A private PostgreSQL (loopback, data in the suite's temp dir), stopped at the end."""
    with PostgresServer(tmp_path_factory.mktemp("postgres")) as server:
        yield server
