"""scripts/link-cli.sh: links .venv/bin/dockward onto PATH, never over another program.

Each test copies the script into a scratch checkout with a stand-in .venv/bin/dockward and
points DOCKWARD_BIN_DIR at a scratch directory, so nothing outside tmp_path is touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "link-cli.sh"


class Checkout:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.script = root / "scripts" / "link-cli.sh"
        self.script.parent.mkdir(parents=True)
        shutil.copy2(SCRIPT, self.script)
        self.dockward = root / ".venv" / "bin" / "dockward"
        self.dockward.parent.mkdir(parents=True)
        self.dockward.write_text("#!/bin/sh\necho 'dockward 0.1.0'\n")
        self.dockward.chmod(0o755)
        self.bin_dir = root.parent / "bin"
        self.link = self.bin_dir / "dockward"

    def run(self, path: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "DOCKWARD_BIN_DIR": str(self.bin_dir),
            "PATH": path if path is not None else f"{self.bin_dir}:/usr/bin:/bin",
        }
        return subprocess.run(
            [str(self.script)], capture_output=True, text=True, env=env, timeout=30, check=False
        )


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    return Checkout(tmp_path / "dockward")


def test_creates_the_missing_link_and_says_so(checkout: Checkout) -> None:
    done = checkout.run()
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"dockward: linked {checkout.link} -> {checkout.dockward}\n"
    assert os.readlink(checkout.link) == str(checkout.dockward)
    out = subprocess.run(
        ["dockward"], capture_output=True, text=True, env={"PATH": str(checkout.bin_dir)}
    )
    assert out.stdout == "dockward 0.1.0\n"


def test_an_existing_link_to_this_checkout_is_kept_quietly(checkout: Checkout) -> None:
    checkout.run()
    done = checkout.run()
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert os.readlink(checkout.link) == str(checkout.dockward)


def test_a_link_into_another_dockward_venv_is_replaced(checkout: Checkout, tmp_path: Path) -> None:
    checkout.bin_dir.mkdir()
    checkout.link.symlink_to(tmp_path / "old-checkout" / ".venv" / "bin" / "dockward")
    done = checkout.run()
    assert done.returncode == 0, done.stderr
    assert "linked" in done.stdout
    assert os.readlink(checkout.link) == str(checkout.dockward)


def test_another_program_of_that_name_is_left_alone(checkout: Checkout) -> None:
    checkout.bin_dir.mkdir()
    checkout.link.write_text("#!/bin/sh\necho someone else\n")
    done = checkout.run()
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"dockward: left {checkout.link} alone: it is another program; "
        f"run {checkout.dockward} instead\n"
    )
    assert not checkout.link.is_symlink()
    assert checkout.link.read_text() == "#!/bin/sh\necho someone else\n"


def test_a_link_to_something_else_is_left_alone(checkout: Checkout) -> None:
    checkout.bin_dir.mkdir()
    checkout.link.symlink_to("/usr/bin/true")
    done = checkout.run()
    assert done.returncode == 0, done.stderr
    assert "left" in done.stdout and "/usr/bin/true" in done.stdout
    assert os.readlink(checkout.link) == "/usr/bin/true"


def test_says_when_the_directory_is_not_on_path(checkout: Checkout) -> None:
    done = checkout.run(path="/usr/bin:/bin")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == (
        f"dockward: {checkout.bin_dir} is not on your PATH; add it to use the dockward command"
    )


def test_refuses_without_an_installed_venv(checkout: Checkout) -> None:
    checkout.dockward.unlink()
    done = checkout.run()
    assert done.returncode == 2
    assert "make install" in done.stderr
    assert not checkout.link.exists() and not checkout.link.is_symlink()
