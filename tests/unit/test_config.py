"""Gateway configuration: what a user reads when a key is wrong."""

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
        "dockward.toml: tls.colour: unknown key (known keys: cert, key, ca, crl)"
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
