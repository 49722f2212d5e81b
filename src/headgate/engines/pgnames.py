"""Names PostgreSQL would cut: shortened by a hash, their full name kept in the object's comment.

PostgreSQL keeps 63 bytes of an identifier and silently drops the rest, and headgate's
names (``<model>__<fingerprint>__v<version>``) often pass that and differ only at the end.
Every statement the engine sends has its long quoted identifiers replaced by a fitted
form (the first 50 bytes and a hash of the whole); a statement that creates or renames
such an object also comments it with its full name, which the catalog reads back.
"""

from __future__ import annotations

import re
from hashlib import blake2b

MAX_IDENTIFIER_BYTES = 63
NAME_COMMENT = "headgate name: "

_TOKENS = re.compile(r"'(?:[^']|'')*'|\"((?:[^\"]|\"\")+)\"")
_CREATED = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:TEMP|TEMPORARY|UNLOGGED)\s+)?(TABLE|VIEW)\s+"
    r"(?:IF\s+NOT\s+EXISTS\s+)?((?:\"(?:[^\"]|\"\")+\"\.)?\"(?:[^\"]|\"\")+\")",
    re.IGNORECASE,
)
_RENAMED = re.compile(
    r"^\s*ALTER\s+(TABLE|VIEW)\s+(?:IF\s+EXISTS\s+)?(?:(\"(?:[^\"]|\"\")+\")\.)?\"(?:[^\"]|\"\")+\""
    r"\s+RENAME\s+TO\s+(\"(?:[^\"]|\"\")+\")",
    re.IGNORECASE,
)

_shortened: dict[str, str] = {}  # short -> full, for messages that name a shortened object


def fit_identifier(name: str) -> str:
    """``name`` if PostgreSQL keeps it whole, else its first 50 bytes and a hash of all of it.

    PostgreSQL would cut it at 63 bytes, and two versions of one model differ only at
    the end of their names; the hash keeps them apart.

    >>> fit_identifier("short")
    'short'
    >>> len(fit_identifier("x" * 80))
    63
    """
    encoded = name.encode()
    if len(encoded) <= MAX_IDENTIFIER_BYTES:
        return name
    head = encoded[:50].decode("utf-8", "ignore")
    short = f"{head}_{blake2b(encoded, digest_size=6).hexdigest()}"
    _shortened[short] = name
    return short


def fit_names(sql: str) -> str:
    """``sql`` with every quoted identifier PostgreSQL would cut replaced by its fitted form."""
    if len(sql) <= MAX_IDENTIFIER_BYTES or '"' not in sql:
        return sql

    def fit(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner is None or len(inner.encode()) <= MAX_IDENTIFIER_BYTES:
            return match.group(0)
        return '"' + fit_identifier(inner.replace('""', '"')).replace('"', '""') + '"'

    return _TOKENS.sub(fit, sql)


def full_names(text: str) -> str:
    """A message with shortened names put back as headgate knows them."""
    for short, name in _shortened.items():
        if short in text:
            text = text.replace(short, name)
    return text


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def unquote(identifier: str) -> str:
    return identifier[1:-1].replace('""', '"')


def last_part(qualified: str) -> str:
    """The unquoted last part of ``"schema"."name"``."""
    parts = re.findall(r"\"((?:[^\"]|\"\")+)\"", qualified)
    return parts[-1].replace('""', '"') if parts else qualified


def full_name_comment(sql: str, fitted: str) -> str | None:
    """The COMMENT that keeps a shortened object's full name, when ``sql`` creates one."""
    if fitted == sql:
        return None
    created = _CREATED.match(fitted)
    if created is not None:
        original = _CREATED.match(sql)
        full = last_part(original.group(2)) if original else ""
        if full and full != last_part(created.group(2)):
            kind, name = created.group(1).upper(), created.group(2)
            return f"COMMENT ON {kind} {name} IS {literal(NAME_COMMENT + full)}"
        return None
    renamed = _RENAMED.match(fitted)
    if renamed is not None:
        original = _RENAMED.match(sql)
        kind, schema, new = renamed.group(1).upper(), renamed.group(2), renamed.group(3)
        full = unquote(original.group(3)) if original else unquote(new)
        target = f"{schema}.{new}" if schema else new
        comment = NAME_COMMENT + full if full != unquote(new) else ""
        return f"COMMENT ON {kind} {target} IS {literal(comment) if comment else 'NULL'}"
    return None
