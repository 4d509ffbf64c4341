"""``dockward policy check`` and ``explain``: decisions, reasons and exit codes."""

from __future__ import annotations

import pytest

from support.cli import run

POLICY = """
[[role]]
name = "ci"
preset = "ci"
clients = ["cn:ci-*"]
networks = ["10.20.0.0/16", "127.0.0.1/32"]
host_paths = ["/srv/ci"]

[[role]]
name = "monitor"
preset = "readonly"
clients = ["uid:1000"]

[[role]]
name = "staging"
clients = ["cn:stage-*"]
allow = ["image.*"]
mode = "audit"

[[role]]
name = "tenants"
preset = "ci"
clients = ["cn:tenant-*"]
scope = "own"
"""


@pytest.fixture
def policy(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(POLICY)
    return path


def test_allowed_request_exits_0(capsys, policy):
    code, out, _ = run(
        capsys,
        "policy",
        "check",
        "--config",
        str(policy),
        "--identity",
        "cn:ci-1",
        "GET",
        "/v1.41/containers/json",
    )
    assert code == 0
    assert out == 'allow: container.list by role "ci" (allow container.*)\n'


def test_denied_operation_exits_1_with_the_reason(capsys, policy):
    code, out, _ = run(
        capsys,
        "policy",
        "check",
        "--config",
        str(policy),
        "--identity",
        "uid:1000",
        "POST",
        "/containers/create",
    )
    assert code == 1
    reason = 'denied by role "monitor": operation container.create is not allowed'
    assert out == f"deny: container.create: {reason}\n"


def test_no_matching_role_and_networks(capsys, policy):
    code, out, _ = run(
        capsys,
        "policy",
        "check",
        "--config",
        str(policy),
        "--identity",
        "cn:ci-1",
        "--source",
        "192.0.2.1",
        "GET",
        "/containers/json",
    )
    assert code == 1 and "no role matches cn:ci-1 from 192.0.2.1" in out


def test_audit_mode_reports_would_deny(capsys, policy):
    code, out, _ = run(
        capsys,
        "policy",
        "check",
        "--config",
        str(policy),
        "--identity",
        "cn:stage-2",
        "DELETE",
        "/containers/abc",
    )
    assert code == 1
    assert out.startswith(
        'audit (would deny, let through): container.remove: denied by role "staging"'
    )


def test_raw_request_file(capsys, policy, tmp_path):
    request = tmp_path / "req.http"
    request.write_bytes(b"GET /v1.41/images/json HTTP/1.1\r\nHost: x\r\n\r\n")
    code, out, _ = run(
        capsys, "policy", "check", "--config", str(policy), "--identity", "cn:ci-9", str(request)
    )
    assert (code, out) == (0, 'allow: image.list by role "ci" (allow image.list)\n')


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--identity", "cn:ci-1", "GET", "/a", "b.json", "extra"],
            "REQUEST is a raw HTTP request file",
        ),
        (["--identity", "host:x", "GET", "/_ping"], "--identity: "),
        (
            ["--identity", "cn:ci-1", "--source", "nowhere", "GET", "/_ping"],
            "--source: 'nowhere' is not an IP address",
        ),
        (["--identity", "cn:ci-1", "GET", "/a//b"], "is not clean"),
        (
            ["--identity", "cn:ci-1", "/missing/request.http"],
            "cannot read request file /missing/request.http",
        ),
    ],
)
def test_bad_input_exits_2(capsys, policy, argv, message):
    code, _, err = run(capsys, "policy", "check", "--config", str(policy), *argv)
    assert code == 2
    assert message in err


def test_missing_policy_file_exits_2(capsys, tmp_path):
    code, _, err = run(
        capsys,
        "policy",
        "check",
        "--config",
        str(tmp_path / "none.toml"),
        "--identity",
        "cn:x",
        "GET",
        "/_ping",
    )
    assert code == 2 and "policy file" in err and "not found" in err


def test_explain_lists_what_a_role_may_do(capsys, policy):
    code, out, _ = run(capsys, "policy", "explain", "ci", "--config", str(policy))
    assert code == 0
    assert out.startswith("role ci: profile baseline, mode enforce\n")
    assert "  clients:  cn:ci-*\n" in out
    assert "10.20.0.0/16" in out and "host paths: /srv/ci" in out
    assert "container.create" in out and "container.logs" in out
    assert "image.push" not in out and "swarm.init" not in out


def test_explain_warns_about_buildkit_tunnels_only_when_a_role_may_open_them(
    capsys, tmp_path, policy
):
    code, out, err = run(capsys, "policy", "explain", "ci", "--config", str(policy))
    assert code == 0 and "session" not in out and "grpc" not in out and "warning" not in err
    assert "  outbound: public registries only (no URLs, no log servers)\n" in out
    buildkit = tmp_path / "buildkit.toml"
    buildkit.write_text(
        '[[role]]\nname = "bk"\npreset = "ci"\nclients = ["cn:bk"]\n'
        'allow = ["image.build", "session", "grpc"]\noutbound = ["registry.internal:5000"]\n'
    )
    code, out, err = run(capsys, "policy", "explain", "bk", "--config", str(buildkit))
    assert code == 0 and "    grpc " in out and "    session " in out
    assert "  outbound: registry.internal:5000\n" in out
    assert err == (
        "dockward: warning: role bk may open grpc and session: BuildKit tunnels dockward cannot "
        "see into, so what a build does through them (its network mode, entitlements, exports) "
        "is not judged by the profile\n"
    )


def test_explain_unknown_role_exits_2(capsys, policy):
    code, _, err = run(capsys, "policy", "explain", "root", "--config", str(policy))
    assert code == 2 and "no role named 'root'" in err and "ci, monitor, staging" in err


def test_explain_states_the_scope(capsys, policy):
    code, out, _ = run(capsys, "policy", "explain", "tenants", "--config", str(policy))
    assert code == 0 and "  scope:    own (each identity its own space: owner cn:NAME" in out
    assert "  names:    shared (one name space for the daemon" in out
    private = policy.with_name("private.toml")
    private.write_text(POLICY.replace('scope = "own"', 'scope = "own"\nnames = "private"'))
    code, out, _ = run(capsys, "policy", "explain", "tenants", "--config", str(private))
    assert code == 0 and "  names:    private (container, volume and network names" in out
    code, out, _ = run(capsys, "policy", "explain", "ci", "--config", str(policy))
    assert "  scope:    all (every object on the daemon" in out


def test_check_takes_owners_offline(capsys, policy):
    def check(*owner_of):
        options = [item for text in owner_of for item in ("--owner-of", text)]
        return run(
            capsys, "policy", "check", "--config", str(policy), "--identity", "cn:tenant-b",
            *options, "GET", "/v1.41/containers/web/json",
        )  # fmt: skip

    code, out, _ = check("container:web=cn:tenant-a")
    assert code == 1
    assert out == (
        "deny: container.inspect: No such container: web (tenancy: path name names container "
        "'web', owned by cn:tenant-a)\n"
    )
    code, out, _ = check("container:web=cn:tenant-b")
    assert code == 0, out
    code, _, err = check("web=cn:tenant-a")
    assert code == 2 and "KIND:NAME=OWNER" in err
