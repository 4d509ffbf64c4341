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


def test_logging_driver_options_lose_every_value():
    inspect = {
        "HostConfig": {
            "LogConfig": {
                "Type": "splunk",
                "Config": {"splunk-token": "tok-123", "splunk-url": "https://u:pw@splunk:8088"},
            }
        },
        "Spec": {"TaskTemplate": {"LogDriver": {"Name": "awslogs", "Options": {"x": "y"}}}},
    }
    out = json.loads(redact_json(json.dumps(inspect).encode()))
    assert out["HostConfig"]["LogConfig"] == {
        "Type": "splunk",
        "Config": {"splunk-token": REDACTED, "splunk-url": REDACTED},
    }
    assert out["Spec"]["TaskTemplate"]["LogDriver"] == {
        "Name": "awslogs",
        "Options": {"x": REDACTED},
    }


def test_volume_options_lose_their_credentials():
    volumes = {
        "Volumes": [
            {
                "Name": "share",
                "Driver": "local",
                "Options": {
                    "type": "cifs",
                    "device": "//10.0.0.5/share",
                    "o": "addr=10.0.0.5,username=svc,password=hunter2,vers=3.0",
                },
            },
            {"Name": "p", "Driver": "sshfs", "Options": {"sshcmd": "u@h:/", "Password": "pw"}},
        ]
    }
    raw = redact_json(json.dumps(volumes).encode())
    out = json.loads(raw)
    assert out["Volumes"][0]["Options"] == {
        "type": "cifs",
        "device": "//10.0.0.5/share",
        "o": f"addr=10.0.0.5,username=svc,password={REDACTED},vers=3.0",
    }
    assert out["Volumes"][1]["Options"] == {"sshcmd": "u@h:/", "Password": REDACTED}
    assert b"hunter2" not in raw and b'"pw"' not in raw


def test_a_mounts_inline_driver_options_lose_their_credentials():
    mount = {
        "Type": "volume",
        "VolumeOptions": {"DriverConfig": {"Options": {"o": "password=x", "type": "cifs"}}},
    }
    out = json.loads(redact_json(json.dumps({"HostConfig": {"Mounts": [mount]}}).encode()))
    options = out["HostConfig"]["Mounts"][0]["VolumeOptions"]["DriverConfig"]["Options"]
    assert options == {"o": f"password={REDACTED}", "type": "cifs"}


def test_config_data_is_redacted():
    configs = [{"ID": "c", "Spec": {"Name": "app.conf", "Data": "c2VjcmV0"}}]
    out = json.loads(redact_json(json.dumps(configs).encode()))
    assert out == [{"ID": "c", "Spec": {"Name": "app.conf", "Data": REDACTED}}]


# What dockerd 20.10's classic builder records for
#   ARG TOKEN=defaulttok / ARG OTHER / ENV API_KEY=envsecret MODE="a b" / RUN echo $TOKEN $OTHER
# built with --build-arg TOKEN=argsecret --build-arg OTHER="x y".
HISTORY = [
    {"CreatedBy": "|2 OTHER=x y TOKEN=argsecret /bin/sh -c echo $TOKEN $OTHER > /t"},
    {"CreatedBy": "/bin/sh -c #(nop)  ENV API_KEY=envsecret MODE=a b"},
    {"CreatedBy": "/bin/sh -c #(nop)  ARG OTHER"},
    {"CreatedBy": "/bin/sh -c #(nop)  ARG TOKEN=defaulttok"},
    {"CreatedBy": '/bin/sh -c #(nop)  CMD ["sh"]'},
    {"CreatedBy": ""},
    # BuildKit's spelling
    {"CreatedBy": "RUN |1 TOKEN=argsecret /bin/sh -c echo $TOKEN # buildkit"},
    {"CreatedBy": "ENV API_KEY=envsecret"},
    {"CreatedBy": "ARG TOKEN=defaulttok"},
    {"CreatedBy": "RUN /bin/sh -c make # buildkit"},
]


def test_build_history_loses_env_values_and_build_arguments():
    raw = redact_json(json.dumps(HISTORY).encode())
    assert [step["CreatedBy"] for step in json.loads(raw)] == [
        f"|2 {REDACTED}",
        f"/bin/sh -c #(nop)  ENV {REDACTED}",
        "/bin/sh -c #(nop)  ARG OTHER",
        f"/bin/sh -c #(nop)  ARG {REDACTED}",
        '/bin/sh -c #(nop)  CMD ["sh"]',
        "",
        f"RUN |1 {REDACTED}",
        f"ENV {REDACTED}",
        f"ARG {REDACTED}",
        "RUN /bin/sh -c make # buildkit",
    ]
    for secret in (b"argsecret", b"envsecret", b"defaulttok", b"x y"):
        assert secret not in raw


def test_build_arguments_in_an_images_cmd_keep_their_names():
    image = {
        "ContainerConfig": {
            "Cmd": ["|2", "OTHER=x y", "TOKEN=argsecret", "/bin/sh", "-c", "echo $TOKEN"],
        },
        "Config": {"Cmd": ["/bin/sh", "-c", "#(nop) ", "ENV API_KEY=envsecret"]},
    }
    out = json.loads(redact_json(json.dumps(image).encode()))
    assert out["ContainerConfig"]["Cmd"] == [
        "|2",
        f"OTHER={REDACTED}",
        f"TOKEN={REDACTED}",
        "/bin/sh",
        "-c",
        "echo $TOKEN",
    ]
    assert out["Config"]["Cmd"] == ["/bin/sh", "-c", "#(nop) ", f"ENV {REDACTED}"]
    assert redact_json(json.dumps({"Cmd": ["sh", "-c", "true"]}).encode()) == (
        b'{"Cmd":["sh","-c","true"]}\n'
    )
