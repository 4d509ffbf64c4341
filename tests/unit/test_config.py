"""Configuration keys are validated without touching the disk."""

from __future__ import annotations

import pytest

from dockward.config import config_from_dict
from dockward.errors import ConfigError

UNIX_ONLY = {"listen": [{"unix": "/run/dockward-test.sock"}]}


def test_access_log_rotation_is_off_by_default_and_keeps_five():
    config = config_from_dict(dict(UNIX_ONLY))
    assert (config.access_log_max_bytes, config.access_log_keep) == (None, 5)


def test_access_log_rotation_keys_are_read(tmp_path):
    target = tmp_path / "logs" / "access.log"
    config = config_from_dict(
        {
            **UNIX_ONLY,
            "access_log": str(target),
            "access_log_max_bytes": 10_000_000,
            "access_log_keep": 1000,
        }
    )
    assert (config.access_log_max_bytes, config.access_log_keep) == (10_000_000, 1000)
    assert not target.parent.exists()  # validating creates nothing


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"access_log_max_bytes": 0}, "access_log_max_bytes: Input should be greater than 0"),
        ({"access_log_max_bytes": -5}, "access_log_max_bytes: Input should be greater than 0"),
        ({"access_log_keep": 0}, "access_log_keep: Input should be greater than or equal to 1"),
        ({"access_log_keep": 1001}, "access_log_keep: Input should be less than or equal to 1000"),
        ({"access_log": "-", "access_log_max_bytes": 100}, "access_log_max_bytes needs"),
    ],
)
def test_bad_access_log_rotation_settings_are_refused(extra, message):
    data = {**UNIX_ONLY, "access_log": "/var/log/dockward/access.log", **extra}
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data, source="dockward.toml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("dockward.toml: ")
