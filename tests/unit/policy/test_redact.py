"""Redaction of inspect responses."""

from __future__ import annotations

import json

from dockward.policy.redact import REDACTED, redact_json


def test_env_values_and_credentials_are_redacted_names_kept():
    body = json.dumps(
        {
            "Config": {"Env": ["DB_PASSWORD=hunter2", "PATH=/bin", "NOVALUE"], "Image": "x"},
            "Spec": {"TaskTemplate": {"ContainerSpec": {"env": ["TOKEN=abc"]}}},
            "AuthConfig": {"Password": "pw", "IdentityToken": "tok", "Username": "alice"},
        }
    ).encode()
    out = json.loads(redact_json(body))
    assert out["Config"]["Env"] == [f"DB_PASSWORD={REDACTED}", f"PATH={REDACTED}", "NOVALUE"]
    assert out["Spec"]["TaskTemplate"]["ContainerSpec"]["env"] == [f"TOKEN={REDACTED}"]
    expected = {"Password": REDACTED, "IdentityToken": REDACTED, "Username": "alice"}
    assert out["AuthConfig"] == expected
    assert out["Config"]["Image"] == "x"
    assert b"hunter2" not in redact_json(body)


def test_non_json_is_left_alone():
    assert redact_json(b"not json") == b"not json"
