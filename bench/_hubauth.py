"""An administrator's API token for the hub a benchmark starts (the hub signs every request in)."""

from __future__ import annotations

import secrets
from pathlib import Path

ADMIN = "bench-admin"


def admin_headers(root: Path) -> dict[str, str]:
    """Headers that sign requests to ``root``'s hub in as an administrator (made once)."""
    from headgate.facade import Project

    with Project.load(root) as project:
        if project.accounts.table.user(ADMIN) is None:
            project.add_user(ADMIN, secrets.token_urlsafe(24), roles=[("admin", "*")])
        token = project.create_token(f"bench-{secrets.token_hex(4)}", ["admin"], owner=ADMIN)
    return {"Authorization": f"Bearer {token}"}
