"""``dockward tenancy owners``: the daemon's objects and their owners."""

from __future__ import annotations

from dockward.cli.tenancy import Owned, owned_objects
from support.cli import run


def test_the_list_answers_become_one_table() -> None:
    listings = {
        "container": [
            {"Id": "c1", "Names": ["/web"], "Labels": {"dockward.owner": "cn:alice"}},
            {"Id": "c2", "Names": ["/old"], "Labels": {}},
        ],
        "volume": {"Volumes": [{"Name": "data", "Labels": None}], "Warnings": None},
        "network": [{"Id": "n1", "Name": "bridge", "Labels": {}}],
        "image": [
            {"Id": "sha256:1", "RepoTags": ["<none>:<none>"], "Labels": None},
            {"Id": "sha256:2", "RepoTags": ["app:1"], "Labels": {"dockward.owner": "role:ci"}},
        ],
    }
    assert owned_objects(listings) == [
        Owned("container", "web", "c1", "cn:alice"),
        Owned("container", "old", "c2", None),
        Owned("volume", "data", "data", None),
        Owned("network", "bridge", "n1", None),
        Owned("image", "<none>", "sha256:1", None),
        Owned("image", "app:1", "sha256:2", "role:ci"),
    ]


def test_a_daemon_that_cannot_be_asked_is_a_usage_error(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "tenancy", "owners", "--upstream", str(tmp_path / "none.sock"))
    assert code == 2 and "cannot ask the Docker daemon at" in err
