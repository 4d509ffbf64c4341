"""Roles end to end: who may do what, audit mode, Env redaction, hot reload."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from support.clients import DockerCLI
from support.gateway import GatewayProcess, read_until_close, tls_connect
from support.waiting import wait_for

pytestmark = pytest.mark.e2e

POLICY = """
[[role]]
name = "admin"
preset = "admin"
clients = ["cn:admin"]

[[role]]
name = "ci"
preset = "ci"
clients = ["cn:ci-*"]
host_paths = ["/srv/ci"]

[[role]]
name = "monitor"
preset = "readonly"
clients = ["cn:monitor"]

[[role]]
name = "rollout"
preset = "readonly"
clients = ["cn:rollout"]
mode = "audit"
"""


@pytest.fixture(scope="module")
def roles_gateway(pki, dockerd, busybox_image):
    with GatewayProcess(pki, dockerd.socket_path, policy=POLICY) as gateway:
        yield gateway


def docker_as(gateway: GatewayProcess, who: str, *args: str) -> subprocess.CompletedProcess[str]:
    return DockerCLI(gateway, gateway.pki.client(who))(*args, text=True)


@pytest.fixture
def secret_container(dockerd, busybox_image) -> Iterator[str]:
    """A container made on the daemon's socket with ``DB_PASSWORD=hunter2`` in its Env."""
    name = f"env-{uuid.uuid4().hex[:6]}"
    dockerd.api_json(
        "POST",
        f"/containers/create?name={name}",
        {"Image": busybox_image, "Cmd": ["true"], "Env": ["DB_PASSWORD=hunter2"]},
    )
    yield name
    dockerd.api("DELETE", f"/containers/{name}?force=1")


def test_readonly_role_can_look_but_not_touch(roles_gateway, busybox_image, dockerd):
    assert docker_as(roles_gateway, "monitor", "ps", "-a").returncode == 0
    assert docker_as(roles_gateway, "monitor", "images").returncode == 0
    name = f"ro-{uuid.uuid4().hex[:6]}"
    result = docker_as(roles_gateway, "monitor", "run", "--name", name, busybox_image, "true")
    assert result.returncode != 0
    assert (
        'dockward: denied by role "monitor": operation container.create is not allowed'
        in result.stderr
    )
    assert dockerd.api("GET", f"/containers/{name}/json")[0] == 404


def test_unknown_identity_is_denied(roles_gateway):
    result = docker_as(roles_gateway, "stranger", "ps")
    assert result.returncode != 0
    assert "dockward: denied: no role matches cn:stranger from 127.0.0.1" in result.stderr


def test_ci_runs_and_execs_but_cannot_push_or_save(roles_gateway, busybox_image):
    result = docker_as(roles_gateway, "ci-1", "run", "--rm", busybox_image, "echo", "ci-ok")
    assert (result.returncode, result.stdout) == (0, "ci-ok\n"), result.stderr
    saved = docker_as(roles_gateway, "ci-1", "save", busybox_image)
    assert saved.returncode != 0
    assert "operation image.save is not allowed" in saved.stderr


def test_audit_mode_lets_a_would_deny_through_and_logs_it(roles_gateway, busybox_image, dockerd):
    name = f"audit-{uuid.uuid4().hex[:6]}"
    mark = roles_gateway.access_mark()
    result = docker_as(roles_gateway, "rollout", "create", "--name", name, busybox_image, "true")
    assert result.returncode == 0, result.stderr
    assert dockerd.api("GET", f"/containers/{name}/json")[0] == 200
    entry = roles_gateway.access_entry(
        lambda e: e["operation"] == "container.create", what="the create", after=mark
    )
    assert entry["decision"] == "audit-deny" and entry["status"] == 201
    assert entry["role"] == "rollout" and "container.create is not allowed" in entry["reason"]
    dockerd.api("DELETE", f"/containers/{name}?force=1")


def test_env_values_are_redacted_without_the_secrets_grant(roles_gateway, secret_container):
    as_ci = docker_as(
        roles_gateway, "ci-1", "inspect", "--format", "{{json .Config.Env}}", secret_container
    )
    assert as_ci.returncode == 0, as_ci.stderr
    assert "hunter2" not in as_ci.stdout and "DB_PASSWORD=<redacted>" in as_ci.stdout
    as_admin = docker_as(
        roles_gateway, "admin", "inspect", "--format", "{{json .Config.Env}}", secret_container
    )
    assert "DB_PASSWORD=hunter2" in as_admin.stdout


def test_env_redaction_also_holds_for_http10_close_delimited_answers(
    roles_gateway, secret_container
):
    with tls_connect(roles_gateway, roles_gateway.pki.client("ci-1")) as sock:
        sock.sendall(f"GET /v1.41/containers/{secret_container}/json HTTP/1.0\r\n\r\n".encode())
        answer = read_until_close(sock)
    assert answer.startswith(b"HTTP/1.0 200 ")
    assert b"hunter2" not in answer and b"DB_PASSWORD=<redacted>" in answer


def test_policy_reloads_on_sighup_and_refuses_an_invalid_one(pki, dockerd, busybox_image):
    with GatewayProcess(pki, dockerd.socket_path, policy=POLICY) as gateway:
        assert docker_as(gateway, "monitor", "ps").returncode == 0
        # an invalid policy is refused; the old one stays in force
        gateway.policy.write_text(POLICY + '\n[[role]]\nname = "broken"\nallow = ["no.such"]\n')
        os.kill(gateway.process.pid, signal.SIGHUP)  # type: ignore[union-attr]
        wait_for(
            lambda: "policy reload refused" in gateway.log(), what="the refused-reload log line"
        )
        assert docker_as(gateway, "monitor", "ps").returncode == 0
        # a valid new policy without the monitor role takes over at once
        gateway.policy.write_text(
            POLICY.replace('clients = ["cn:monitor"]', 'clients = ["cn:nobody"]')
        )
        os.kill(gateway.process.pid, signal.SIGHUP)  # type: ignore[union-attr]
        wait_for(lambda: gateway.log().count("policy reloaded") >= 1, what="the reload log line")
        result = docker_as(gateway, "monitor", "ps")
        assert result.returncode != 0 and "no role matches cn:monitor" in result.stderr


def test_policy_reloads_when_the_file_changes(pki, dockerd):
    with GatewayProcess(pki, dockerd.socket_path, policy=POLICY) as gateway:
        assert docker_as(gateway, "monitor", "ps").returncode == 0
        stat = gateway.policy.stat()
        gateway.policy.write_text(
            POLICY.replace('clients = ["cn:monitor"]', 'clients = ["cn:nobody"]')
        )
        os.utime(gateway.policy, (stat.st_atime, stat.st_mtime + 5))
        wait_for(
            lambda: "policy reloaded" in gateway.log(), what="the reload after the file changed"
        )
        assert docker_as(gateway, "monitor", "ps").returncode != 0
