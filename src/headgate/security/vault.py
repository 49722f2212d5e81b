"""Secrets kept in the metadata store, encrypted with the project's key, per environment.

The key comes from ``HEADGATE_SECRET_KEY`` (one Fernet key, or several separated by commas:
the first encrypts, all decrypt) or from the key file ``.headgate/secret.key``, which must
be readable by its owner only: a key anyone on the machine can read is refused. Rotation
(``headgate secrets rotate-key``) writes a new key first in the file, re-encrypts every
secret with it, then drops the old key.

``${secret:NAME}`` in a source or engine setting resolves, during a run, to the value set
for the run's environment, else the one set for every environment (``*``), else the
environment variables and ``.headgate/secrets.yml`` as before.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from headgate.errors import HeadgateError

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

    from headgate.state.store import StateStore

KEY_FILE = ".headgate/secret.key"
EVERY = "*"


@dataclass
class SecretInfo:
    """What may be shown about a secret: never its value."""

    name: str
    environment: str
    updated_by: str | None
    updated_at: datetime


class Vault:
    def __init__(self, store: StateStore, project_dir: Path) -> None:
        self.store = store
        self.project_dir = project_dir

    # keys -------------------------------------------------------------------------

    def _keys(self, *, create: bool = False) -> list[bytes]:
        from_env = os.environ.get("HEADGATE_SECRET_KEY")
        if from_env:
            return [k.strip().encode() for k in from_env.split(",") if k.strip()]
        path = self.project_dir / KEY_FILE
        if not path.exists():
            if not create:
                raise HeadgateError(
                    "no key to decrypt secrets with",
                    hint=f"set HEADGATE_SECRET_KEY, or create {KEY_FILE} with: headgate secrets set ...",
                )
            from cryptography.fernet import Fernet

            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as file:
                file.write(Fernet.generate_key() + b"\n")
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise HeadgateError(
                f"{path} can be read by others (mode {stat.filemode(mode)}): refused",
                hint=f"chmod 600 {path}",
            )
        return [line.strip() for line in path.read_bytes().splitlines() if line.strip()]

    def _cipher(self, *, create: bool = False) -> MultiFernet:
        from cryptography.fernet import Fernet, MultiFernet

        try:
            return MultiFernet([Fernet(key) for key in self._keys(create=create)])
        except ValueError:
            raise HeadgateError(
                "the secret key is not a Fernet key (32 url-safe base64 bytes)",
                hint="generate one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'",
            ) from None

    # secrets ----------------------------------------------------------------------

    def set(self, name: str, value: str, *, environment: str = EVERY, by: str | None) -> None:
        cipher = self._cipher(create=True)
        _refuse_short(name, value)
        token = cipher.encrypt(value.encode()).decode()
        self.store.put_secret(environment, name, token, by)

    def get(self, name: str, environment: str) -> str | None:
        """The value for ``environment``, else for every environment; None when unset."""
        found = {(s.environment, s.name): s for s in self.store.stored_secrets()}
        for scope in (environment, EVERY):
            stored = found.get((scope, name))
            if stored is not None:
                return self._decrypt(stored.ciphertext, name)
        return None

    def list(self) -> list[SecretInfo]:
        return [
            SecretInfo(s.name, s.environment, s.updated_by, s.updated_at)
            for s in self.store.stored_secrets()
        ]

    def delete(self, name: str, *, environment: str = EVERY) -> bool:
        return self.store.delete_secret(environment, name)

    def rotate_key(self) -> int:
        """A new key encrypts every secret; the old ones are dropped. How many were re-encrypted."""
        from cryptography.fernet import Fernet, MultiFernet

        if os.environ.get("HEADGATE_SECRET_KEY"):
            raise HeadgateError(
                "the key comes from HEADGATE_SECRET_KEY: rotate it there",
                hint="put the new key first (new,old), run `headgate secrets rotate-key`, "
                "then drop the old one",
            )
        old = self._keys()
        new = Fernet.generate_key()
        cipher = MultiFernet([Fernet(new), *(Fernet(k) for k in old)])
        path = self.project_dir / KEY_FILE
        path.write_bytes(b"\n".join([new, *old]) + b"\n")  # both, until every secret moved
        stored = self.store.stored_secrets()
        for secret in stored:
            token = cipher.rotate(secret.ciphertext.encode()).decode()
            self.store.put_secret(secret.environment, secret.name, token, secret.updated_by)
        path.write_bytes(new + b"\n")
        return len(stored)

    def _decrypt(self, token: str, name: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._cipher().decrypt(token.encode()).decode()
        except InvalidToken:
            raise HeadgateError(
                f"secret {name} cannot be decrypted with the current key",
                hint="the key changed without `headgate secrets rotate-key`: restore the old key",
            ) from None


def _refuse_short(name: str, value: str) -> None:
    """A value too short to mask is refused: hiding each ``ab1`` in a log gives it away."""
    from headgate.sources.secrets import MIN_SECRET_LENGTH

    if len(value) < MIN_SECRET_LENGTH:
        raise HeadgateError(
            f"secret {name} is {len(value)} character{'s' if len(value) != 1 else ''} long: "
            f"a secret needs {MIN_SECRET_LENGTH} or more",
            hint=(
                "a value that short would be masked wherever it appears in output, which "
                "makes logs unreadable and gives it away; use a longer value (a generated "
                "password or token), or, if it is not secret, write it in the project's "
                "files as it is"
            ),
        )
