"""Passwords: argon2id hashes, a minimum length and a refusal of the common ones."""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path

from headgate.errors import HeadgateError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # hashing a megabyte of "password" is a denial of service, not a password
COMMON = Path(__file__).resolve().parent / "data" / "common_passwords.txt"
KEYBOARD_RUNS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "abcdefghijklmnopqrstuvwxyz")


@cache
def _hasher() -> object:
    from argon2 import PasswordHasher, Type

    return PasswordHasher(type=Type.ID)  # argon2id with the library's current parameters


@cache
def common_passwords() -> frozenset[str]:
    lines = COMMON.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def weakness(password: str, *, username: str | None = None) -> str | None:
    """Why ``password`` is refused, or None.

    >>> weakness("short")
    'it is shorter than 12 characters'
    >>> weakness("Password2024!!")
    'it is one of the passwords people pick most'
    >>> weakness("abababababab")
    'it repeats a few characters or follows the keyboard'
    >>> weakness("correct horse battery staple") is None
    True
    """
    if len(password) < MIN_LENGTH:
        return f"it is shorter than {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"it is longer than {MAX_LENGTH} characters"
    lowered = password.lower()
    stem = lowered.strip(string.digits + string.punctuation + string.whitespace)
    if stem in common_passwords() or lowered in common_passwords() or not stem:
        return "it is one of the passwords people pick most"
    if username and username.lower() in lowered:
        return "it contains the user's name"
    if len(set(lowered)) <= 3 or any(
        lowered in run or lowered in run[::-1] for run in KEYBOARD_RUNS
    ):
        return "it repeats a few characters or follows the keyboard"
    return None


def check_password(password: str, *, username: str | None = None) -> None:
    reason = weakness(password, username=username)
    if reason is not None:
        raise HeadgateError(
            f"this password is refused: {reason}",
            hint=f"use at least {MIN_LENGTH} characters, e.g. a few unrelated words",
        )


def hash_password(password: str) -> str:
    from argon2 import PasswordHasher

    hasher = _hasher()
    assert isinstance(hasher, PasswordHasher)
    return hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the ``stored`` hash (constant time; never raises)."""
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    hasher = _hasher()
    assert isinstance(hasher, PasswordHasher)
    if stored is None or len(password) > MAX_LENGTH:
        hasher.hash("a password that is not there")  # the same time whether or not it exists
        return False
    try:
        return hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
