"""Debian's docker-compose (1.29, on docker-py) through dockward: up, logs, run, down."""

from __future__ import annotations

import uuid

import pytest

from support.clients import ComposeProject

pytestmark = pytest.mark.e2e

COMPOSE_FILE = """\
version: "3"
services:
  web:
    image: {image}
    command: ["sh", "-c", "echo up-and-running; sleep 600"]
  job:
    image: {image}
    command: ["sh", "-c", "echo job done"]
"""


@pytest.fixture
def compose(gateway, tmp_path, busybox_image):
    run = ComposeProject(gateway, tmp_path, f"dw{uuid.uuid4().hex[:8]}")
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_FILE.format(image=busybox_image))
    yield run
    run("down", "--timeout", "1")


def project_containers(dockerd, project: str) -> list[dict]:
    label = f"com.docker.compose.project={project}"
    return dockerd.api_json("GET", f'/containers/json?all=1&filters={{"label":["{label}"]}}')


def test_compose_up_logs_run_down(compose, dockerd):
    up = compose("up", "-d")
    assert up.returncode == 0, up.stderr
    assert len(project_containers(dockerd, compose.project)) == 2
    run = compose("run", "--rm", "job")
    assert run.returncode == 0, run.stderr
    assert "job done" in run.stdout
    logs = compose("logs", "--no-color", "web")
    assert "up-and-running" in logs.stdout, logs.stdout + logs.stderr
    down = compose("down", "--timeout", "1")
    assert down.returncode == 0, down.stderr
    assert project_containers(dockerd, compose.project) == []
