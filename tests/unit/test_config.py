"""Gateway configuration: what a user reads when a key is wrong; keys validated without
touching the disk."""

from __future__ import annotations

import pytest

from dockward.config import (
    GatewayConfig,
    TcpListenerConfig,
    UnixListenerConfig,
    config_from_dict,
)
from dockward.errors import ConfigError

TLS = {"cert": "/etc/dockward/cert.pem", "key": "/etc/dockward/key.pem", "ca": "/etc/ca.pem"}


def config_error(**data: object) -> str:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data, source="dockward.toml")
    return str(caught.value)


def test_a_misspelt_key_is_named_with_the_key_it_was_meant_to_be():
    # the missing 'key' is the same mistake, not a second problem
    tls = {"cert": "c.pem", "kye": "k.pem", "ca": "ca.pem"}
    assert config_error(tls=tls) == "dockward.toml: tls.kye: unknown key (did you mean 'key'?)"


def test_an_unknown_key_with_no_near_name_lists_the_known_keys():
    assert config_error(tls={**TLS, "colour": "blue"}) == (
        "dockward.toml: tls.colour: unknown key (known keys: cert, key, ca, crl, handshake_threads)"
    )


def test_a_bad_port_is_one_problem_not_one_per_listener_kind():
    assert config_error(tls=TLS, listen=[{"address": "127.0.0.1:99999"}]) == (
        "dockward.toml: listen[0].address: '127.0.0.1:99999': port must be 0-65535"
    )


@pytest.mark.parametrize(
    ("listener", "line"),
    [
        ({"unix": "/run/d.sock", "mode": "999"}, "listen[0].mode: '999' is not an octal file mode"),
        ({"adress": "127.0.0.1:2376"}, "listen[0].adress: unknown key (did you mean 'address'?)"),
        (
            {"unix": "/run/d.sock", "address": "127.0.0.1:2376"},
            "listen[0].address: unknown key (known keys: unix, mode, group)",
        ),
        (
            "127.0.0.1:2376",
            'listen[0]: a listener is a table: address = "HOST:PORT" or unix = "PATH"',
        ),
    ],
)
def test_a_listener_is_judged_as_the_kind_its_keys_say(listener, line):
    message = config_error(tls=TLS, listen=[listener])
    assert message.startswith(f"dockward.toml: {line}")
    assert "\n" not in message


def test_every_problem_gets_a_line_unknown_keys_first():
    message = config_error(
        tls=TLS,
        log_level="inf",
        listen=[{"address": "127.0.0.1:99999"}, {"unix": "/run/d.sock", "mode": "x"}],
        polcy="/etc/dockward/policy.toml",
    )
    assert message.splitlines() == [
        "dockward.toml: polcy: unknown key (did you mean 'policy'?)",
        "dockward.toml: listen[0].address: '127.0.0.1:99999': port must be 0-65535",
        "dockward.toml: listen[1].mode: 'x' is not an octal file mode such as 0660",
        "dockward.toml: log_level: 'inf' is not one of 'debug', 'info', 'warning', 'error' "
        "(did you mean 'info'?)",
    ]


def test_beyond_the_listed_problems_the_last_line_counts_the_rest():
    from dockward.config import MAX_LISTED_PROBLEMS

    listeners = [{"address": f"127.0.0.1:{70000 + n}"} for n in range(MAX_LISTED_PROBLEMS + 3)]
    lines = config_error(tls=TLS, listen=listeners).splitlines()
    assert len(lines) == MAX_LISTED_PROBLEMS
    assert lines[-2].startswith(f"dockward.toml: listen[{MAX_LISTED_PROBLEMS - 2}].address: ")
    assert lines[-1] == "dockward.toml: and 4 more problems"


def test_listeners_of_both_kinds_load_and_survive_a_round_trip():
    config = config_from_dict(
        {"tls": TLS, "listen": [{"address": "[::1]:2376"}, {"unix": "/run/d.sock"}]}
    )
    assert [type(item) for item in config.listen] == [TcpListenerConfig, UnixListenerConfig]
    again = config_from_dict(config.model_dump(exclude_unset=True, mode="json"))
    assert again == config
    assert isinstance(
        GatewayConfig(tls=None, listen=[UnixListenerConfig(unix="/x")]), GatewayConfig
    )


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
        (
            {"access_log": "stdout:", "access_log_max_bytes": 100},
            "access_log_max_bytes needs access_log to be a file, not 'stdout:': remove it or "
            "set access_log to a path",
        ),
        (
            {"access_log": "syslog:", "access_log_keep": 3},
            "access_log_keep needs access_log to be a file, not 'syslog:'",
        ),
        (
            {"access_log": "syslog:", "access_log_max_bytes": 100, "access_log_keep": 3},
            "access_log_max_bytes and access_log_keep need access_log to be a file, not "
            "'syslog:': remove them",
        ),
        ({"access_log": "-", "access_log_keep": 5}, "access_log_keep needs"),
    ],
)
def test_bad_access_log_rotation_settings_are_refused(extra, message):
    data = {**UNIX_ONLY, "access_log": "/var/log/dockward/access.log", **extra}
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data, source="dockward.toml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("dockward.toml: ")


@pytest.mark.parametrize(
    ("admin", "problem"),
    [
        ({"address": "0.0.0.0:9323"}, "listens on a loopback address only"),
        ({"address": "192.0.2.1:9323"}, "listens on a loopback address only"),
        ({"address": "127.0.0.1:2376"}, "is an API listener's address"),
        ({"socket": "/run/d.sock"}, "is an API listener's socket"),
    ],
)
def test_the_admin_endpoint_is_local_and_never_an_api_listener(admin, problem):
    data = {
        "listen": [{"address": "127.0.0.1:2376"}, {"unix": "/run/d.sock"}],
        "tls": {"cert": "/c.pem", "key": "/k.pem", "ca": "/ca.pem"},
        "admin": admin,
    }
    with pytest.raises(ConfigError, match=problem):
        config_from_dict(data)


def test_a_loopback_admin_address_is_taken():
    config = config_from_dict(
        {"listen": [{"unix": "/run/d.sock"}], "admin": {"address": "[::1]:9323"}}
    )
    assert config.admin.address == "[::1]:9323"


def test_robustness_defaults_and_keys():
    config = config_from_dict(dict(UNIX_ONLY))
    assert (config.connect_timeout, config.response_timeout) == (5.0, 60.0)
    assert (config.stream_response_timeout, config.idle_timeout, config.body_timeout) == (
        None,
        None,
        30.0,
    )
    assert config.drain_timeout == 30.0
    limits = config.limits
    assert (limits.connections, limits.connections_per_source) == (2048, 512)
    assert limits.connections_per_identity == 256 and limits.requests_per_second is None
    assert limits.descriptors_needed == 2 * 2048 + 64
    custom = config_from_dict(
        {**UNIX_ONLY, "response_timeout": 5, "limits": {"requests_per_second": 20, "burst": 40}}
    )
    assert custom.response_timeout == 5.0 and custom.limits.burst == 40


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"response_timeout": 0}, "response_timeout: Input should be greater than 0"),
        ({"body_timeout": -1}, "body_timeout: Input should be greater than 0"),
        ({"limits": {"connections": 0}}, "limits.connections: Input should be greater than"),
        ({"limits": {"burst": 5}}, "limits.burst needs limits.requests_per_second"),
        ({"limits": {"conections": 5}}, "limits.conections: unknown key (did you mean"),
        ({"drain_timeout": 0}, "drain_timeout: Input should be greater than 0"),
    ],
)
def test_bad_robustness_settings_are_refused(extra, message):
    assert message in config_error(**UNIX_ONLY, **extra)
