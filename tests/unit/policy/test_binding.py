"""``ca issue client --role R``: the warning when the state's policy will not give R."""

from __future__ import annotations

from pathlib import Path

from dockward.firstrun import default_policy
from dockward.pki.state import StateDir
from dockward.policy.binding import role_warnings


def new_state(tmp_path: Path, policy: str | None = None) -> StateDir:
    state = StateDir(tmp_path / "state")
    state.create_ca()
    if policy is not None:
        state.policy_path.write_text(policy)
    return state


def warnings_for(state: StateDir, name: str, role: str | None) -> list[str]:
    cert = state.load_ca().issue_client(name, role=role).cert
    return role_warnings(state, name, cert, role)


def test_a_preset_role_under_the_default_policy_needs_no_warning(tmp_path: Path) -> None:
    assert warnings_for(new_state(tmp_path), "bob", "readonly") == []
    assert warnings_for(new_state(tmp_path / "2", default_policy()), "bob", "ci") == []


def test_no_role_asked_and_no_policy_yet_says_nothing(tmp_path: Path) -> None:
    assert warnings_for(new_state(tmp_path), "bob", None) == []


def test_a_role_the_policy_lacks_is_named_with_the_fix(tmp_path: Path) -> None:
    state = new_state(tmp_path, default_policy())
    (warning,) = warnings_for(state, "eve", "builder")
    assert f"no role of {state.policy_path} matches eve" in warning
    assert 'add a [[role]] with clients = ["role:builder"]' in warning


def test_a_client_without_a_role_matches_nothing_in_the_default_policy(tmp_path: Path) -> None:
    (warning,) = warnings_for(new_state(tmp_path, default_policy()), "dave", None)
    assert "matches dave" in warning and 'clients = ["cn:dave"]' in warning


def test_an_earlier_role_that_matches_first_is_named(tmp_path: Path) -> None:
    policy = (
        '[[role]]\nname = "everyone"\npreset = "readonly"\nclients = ["*"]\n' + default_policy()
    )
    (warning,) = warnings_for(new_state(tmp_path, policy), "carol", "ci")
    assert "carol gets role 'everyone'" in warning and "not 'ci'" in warning


def test_a_broken_policy_is_reported_not_raised(tmp_path: Path) -> None:
    (warning,) = warnings_for(new_state(tmp_path, "[[role]]\nnme = 1\n"), "bob", "ci")
    assert warning.startswith("cannot tell which role bob will get")
