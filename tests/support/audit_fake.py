"""A backend for the audit store's writer process that a test can watch and break.

The writer process opens it with ``AuditStore(..., opener="support.audit_fake:open_fake")``; the
"database" is a directory shared with the test. Each batch written is one JSON line in
``batches.jsonl`` (with the writing process's pid); while a file ``down`` exists, writing fails
with its text as the error; prunes go to ``pruned.jsonl``; a file ``refuse-open`` makes opening
fail.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from dockward.audit.backends import StoreUnavailable
from dockward.audit.chain import ChainState, StoredRecord
from dockward.audit.record import AuditRecord


class FakeBackend:
    description = "fake"
    usable = True

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)
        refused = self.directory / "refuse-open"
        if refused.exists():
            raise StoreUnavailable(refused.read_text())

    def append(self, gateway: str, records: Sequence[AuditRecord]) -> int:
        down = self.directory / "down"
        if down.exists():
            raise StoreUnavailable(down.read_text())
        line = json.dumps({"pid": os.getpid(), "gateway": gateway, "records": list(records)})
        with open(self.directory / "batches.jsonl", "a") as out:
            out.write(line + "\n")
        return 0

    def prune(self, gateway: str, before_us: int) -> int:
        with open(self.directory / "pruned.jsonl", "a") as out:
            out.write(json.dumps([gateway, before_us]) + "\n")
        return 0

    def chains(self) -> list[ChainState]:
        return []

    def stored(self, gateway: str) -> Iterator[StoredRecord]:
        return iter(())

    def find_hash(self, gateway: str, digest: str) -> int | None:
        return None

    def last(self, gateway: str) -> StoredRecord | None:
        return None

    def select(self, wanted: object) -> Iterator[AuditRecord]:
        return iter(())

    def close(self) -> None:
        pass


def open_fake(directory: str) -> FakeBackend:
    return FakeBackend(directory)


def batches(directory: Path) -> list[dict[str, Any]]:
    """What the writer wrote so far, a batch a line."""
    path = directory / "batches.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def records(directory: Path) -> list[AuditRecord]:
    return [AuditRecord(*fields) for batch in batches(directory) for fields in batch["records"]]
