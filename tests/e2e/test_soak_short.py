"""The soak's short version (issue 15): a minute of mixed work by ten CLI clients through one
gateway, with no unexpected error, no memory growth and no descriptor left open.

``make soak`` runs the long one (50 clients, 10 minutes; ``bench/soak.py``).
"""

from __future__ import annotations

import pytest
from bench.soak import problems, run_clients

from support.gateway import serving

pytestmark = pytest.mark.e2e

CLIENTS = 10
SECONDS = 60


def test_a_minute_of_mixed_work_leaves_no_error_growth_or_leak(
    pki, dockerd, busybox_image, tmp_path
):
    with serving(pki, dockerd.socket_path) as gateway:
        result = run_clients(gateway, busybox_image, CLIENTS, SECONDS, tmp_path)
    assert set(result.tally.done) == {
        "ps", "run", "exec -i", "logs -f", "events", "cp", "save|load"
    }  # fmt: skip
    assert problems(result) == [], result.tally.errors[:5]
