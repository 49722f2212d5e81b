"""Errors of the sources: what went wrong reading a source, said so that a user can act.

Messages name the source and table and never carry a secret: every message that
could hold a URL, header or driver text is passed through ``mask`` first.
"""

from __future__ import annotations

from headgate.errors import HeadgateError


class SourceError(HeadgateError):
    """A source could not be read and retrying will not help (bad config, refused login, bad data)."""


class SourceUnavailable(SourceError):
    """A source could not be reached (refused, timed out, overloaded): a later retry may succeed."""

    transient = True
