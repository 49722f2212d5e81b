"""``${secret:NAME}`` references: resolving them, and keeping their values out of messages.

Connection strings, passwords and tokens never live in the project's files: a source
file says ``url: ${secret:SHOP_DB_URL}`` and the value comes, in this order, from the
environment variable ``NAME``, the environment variable ``HEADGATE_SECRET_NAME``, the
YAML file named by ``HEADGATE_SECRETS_FILE``, or the project's ``.headgate/secrets.yml``
(a file kept out of git). A resolved value may end up inside a driver's error text or a
URL, so everything shown to a user goes through :func:`mask` (or :meth:`Secrets.mask`).

A value shorter than :data:`MIN_SECRET_LENGTH` cannot be hidden the plain way: masking
every ``a`` of a log for the secret ``a`` makes the log unreadable and the pattern of
masks spells the value out. ``headgate secrets set`` refuses such values (as GitLab does
for masked variables); one that still arrives from the environment or a secrets file is
hidden wherever it stands as a word of its own (``password=ab1;``, ``token ab1``), never
inside a longer word (the ``a`` of ``table``), so it is still never printed whole.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from pathlib import Path
from urllib.parse import quote, quote_plus

from headgate.sources.errors import SourceError

SECRET_REFERENCE = re.compile(r"\$\{secret:([^}]*)\}")
SECRET_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PROJECT_SECRETS_FILE = ".headgate/secrets.yml"
MASK = "***"
# shorter values are masked only where they stand alone (see above)
MIN_SECRET_LENGTH = 8

# Secrets set for the environment the current work runs in (the metadata store's, see
# security/vault.py), looked up first; the runtime sets it for the length of a run.
STORED_SECRETS: ContextVar[Callable[[str], str | None] | None] = ContextVar(
    "headgate_stored_secrets", default=None
)
# Every secret value resolved during the current work, so whatever it reports (a task's
# error, a run's record) can be masked even where a reader forgot to.
SEEN_SECRETS: ContextVar[set[str] | None] = ContextVar("headgate_seen_secrets", default=None)

# scheme://user:password@host -> scheme://user:***@host (a password typed into a URL
# without a secret reference is still a password)
_URL_PASSWORD = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<password>[^@\s/]+)@"
)


def mask_url_passwords(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` URL replaced by ``***``."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}@", text)


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value (also as it looks URL- or base64-encoded) and URL password hidden.

    Longer values are replaced first so a secret that contains another is hidden whole;
    one shorter than :data:`MIN_SECRET_LENGTH` only where it stands as a word of its own.
    """
    forms: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        forms.update({secret, quote(secret, safe=""), quote_plus(secret), quote(secret)})
    for form in sorted(forms, key=len, reverse=True):
        if len(form) >= MIN_SECRET_LENGTH:
            text = text.replace(form, MASK)
        else:
            text = _standing_alone(form).sub(MASK, text)
    return mask_url_passwords(text)


def _standing_alone(value: str) -> re.Pattern[str]:
    """``value`` where it is not part of a longer word: no letter or digit runs into it."""
    before = r"(?<!\w)" if re.match(r"\w", value[0]) else ""
    after = r"(?!\w)" if re.match(r"\w", value[-1]) else ""
    return re.compile(before + re.escape(value) + after)


class Secrets:
    """Resolves ``${secret:NAME}`` references for one project and remembers what it resolved.

    A reader keeps one of these for its source, so every message it builds can be
    masked with exactly the values it used.
    """

    def __init__(self, project_dir: Path) -> None:
        self.project_dir = project_dir
        self._used: list[str] = []
        self._files: dict[Path, dict[str, str] | None] = {}

    @property
    def used(self) -> tuple[str, ...]:
        """Every secret value resolved so far (and the derived forms that could be shown)."""
        return tuple(self._used)

    def remember(self, *values: str) -> None:
        """Treat ``values`` as secrets too (a password parsed out of a URL, a basic-auth token)."""
        self._used.extend(v for v in values if v)
        seen = SEEN_SECRETS.get()
        if seen is not None:
            seen.update(v for v in values if v)

    def resolve(self, value: str) -> str:
        """``value`` with every ``${secret:NAME}`` replaced by the secret's value."""

        def substitute(match: re.Match[str]) -> str:
            secret = self.lookup(match.group(1).strip())
            self.remember(secret)
            return secret

        return SECRET_REFERENCE.sub(substitute, value)

    def mask(self, text: str) -> str:
        return mask(text, self._used)

    def basic_auth_token(self, username: str, password: str) -> str:
        """The ``Basic`` credential for a header; remembered as a secret so it is masked too."""
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self.remember(token)
        return token

    def lookup(self, name: str) -> str:
        if not SECRET_NAME.fullmatch(name):
            raise SourceError(
                f"invalid secret reference ${{secret:{name}}}",
                hint="a secret name uses letters, digits and '_' and does not start with a digit",
            )
        stored = STORED_SECRETS.get()
        if stored is not None:
            value = stored(name)
            if value is not None:
                return value
        for variable in (name, f"HEADGATE_SECRET_{name}"):
            if variable in os.environ:
                return os.environ[variable]
        places = [f"environment variables {name} and HEADGATE_SECRET_{name}"]
        if stored is not None:
            places.insert(0, "the secrets set with `headgate secrets set`")
        for path in self._secret_files():
            values = self._read_file(path)
            if values is None:
                places.append(f"{path} (no such file)")
                continue
            if name in values:
                return values[name]
            places.append(f"{path} (no key {name})")
        raise SourceError(
            f"secret {name} is not set; looked in " + ", ".join(places),
            hint=(
                f"export {name}=... in the environment that runs headgate, or add "
                f"'{name}: ...' to {PROJECT_SECRETS_FILE} (keep that file out of git)"
            ),
        )

    def _secret_files(self) -> list[Path]:
        files = []
        named = os.environ.get("HEADGATE_SECRETS_FILE")
        if named:
            files.append(Path(named).expanduser())
        files.append(self.project_dir / PROJECT_SECRETS_FILE)
        return files

    def _read_file(self, path: Path) -> dict[str, str] | None:
        if path not in self._files:
            self._files[path] = _load_secrets_file(path)
        return self._files[path]


def _load_secrets_file(path: Path) -> dict[str, str] | None:
    """The file's ``NAME: value`` pairs; ``None`` when it does not exist.

    A YAML error's own text quotes the file's content, which is secret: the error
    names the file and line only.
    """
    import yaml

    from headgate.project.textfile import UTF8_HINT, decode_problem

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SourceError(f"cannot read secrets file {path}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:  # the message names the byte, never the content around it
        problem = decode_problem(data, exc)
        raise SourceError(f"secrets file {path}: {problem.describe()}", hint=UTF8_HINT) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" near line {mark.line + 1}" if mark is not None else ""
        raise SourceError(
            f"secrets file {path} is not valid YAML{where}",
            hint="write one 'NAME: value' pair per line; quote values holding ':' or '#'",
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SourceError(
            f"secrets file {path} must be a mapping of NAME: value pairs",
            hint="write one 'NAME: value' pair per line",
        )
    return {str(key): "" if value is None else str(value) for key, value in data.items()}


def resolve_secrets(value: str, *, project_dir: Path) -> str:
    """``value`` with every ``${secret:NAME}`` replaced; a missing secret is a :class:`SourceError`."""
    return Secrets(project_dir).resolve(value)
