"""The audit log: every change, who made it, when and from where; append-only, tamper-evident.

Each entry's hash is SHA-256 over the previous entry's hash and the entry itself (time,
actor, address, action, environment, target and detail, in canonical JSON), so editing an
entry breaks its hash and deleting one breaks the next entry's link: ``verify`` names the
first entry where the chain does not hold. A secret's value is never part of an entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from headgate.state.guarded import AuditEntry

if TYPE_CHECKING:
    from headgate.state.store import StateStore

FIELDS = ("at", "actor", "address", "action", "environment", "target", "detail")


def chain_hash(previous: str, entry: dict[str, Any]) -> str:
    """The entry's hash, over the previous hash and its own fields.

    >>> from datetime import UTC, datetime
    >>> entry = {"at": datetime(2026, 1, 1, tzinfo=UTC), "actor": "ann", "address": None,
    ...          "action": "deploy", "environment": "prod", "target": None, "detail": {}}
    >>> len(chain_hash("", entry)), chain_hash("", entry) == chain_hash("x", entry)
    (64, False)
    """
    fields = {key: entry.get(key) for key in FIELDS}
    at = fields["at"]
    if isinstance(at, datetime):
        fields["at"] = at.isoformat(timespec="microseconds")
    payload = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256((previous + "\n" + payload).encode()).hexdigest()


def record(
    store: StateStore,
    action: str,
    *,
    actor: str | None,
    environment: str | None = None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    address: str | None = None,
) -> AuditEntry:
    """Append one entry (``action`` such as ``deploy``, ``secret.set``, ``env.create``)."""
    from headgate.security.principal import acting

    principal = acting()
    if address is None and principal is not None:
        address = principal.address  # the hub request's client address
    entry = {
        "actor": actor,
        "address": address,
        "action": action,
        "environment": environment,
        "target": target,
        "detail": detail or {},
    }
    return store.append_audit(entry, chain_hash)


@dataclass
class Verdict:
    entries: int
    broken_at: int | None = None  # the id of the first entry where the chain fails
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify(store: StateStore) -> Verdict:
    """Walk the chain: every hash recomputed, every link to the entry before."""
    previous = ""
    count = 0
    for entry in store.audit_entries():
        count += 1
        if entry.prev_hash != previous:
            return Verdict(
                count,
                entry.id,
                "its link to the entry before it does not match: an entry was deleted or edited",
            )
        fields = {key: getattr(entry, key) for key in FIELDS}
        if chain_hash(previous, fields) != entry.hash:
            return Verdict(count, entry.id, "its content does not match its hash: it was edited")
        previous = entry.hash
    return Verdict(count)


def export_lines(store: StateStore) -> Iterator[str]:
    """The whole log as JSON lines, oldest first, hashes included (to check elsewhere)."""
    for entry in store.audit_entries():
        data = {**entry.__dict__, "at": entry.at.isoformat(timespec="microseconds")}
        yield json.dumps(data, sort_keys=True, default=str)
