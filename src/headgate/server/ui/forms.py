"""Reading the UI's HTML forms: every change is a POST of an urlencoded form.

``form_fields`` is the one place a posted form is read; its CSRF token was verified
before, by the route's permission dependency (``server/permissions.py``).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import HTTPException, Request

MAX_FORM_BYTES = 64 * 1024


async def form_fields(request: Request) -> dict[str, str]:
    """The posted form's fields (the last value of a repeated one), verified."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, "the form is too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400, "the form is not UTF-8") from None
    fields = {key: values[-1] for key, values in parse_qs(text, keep_blank_values=True).items()}
    verify_form(request, fields)
    return fields


def verify_form(request: Request, fields: dict[str, str]) -> None:
    """Every form the UI renders carries the hidden fields of ``macros.html``'s ``csrf()``:
    the session's CSRF token, checked (with the Origin) by the route's permission
    dependency before this runs (``server/permissions.py``): nothing is left to check."""
    del request, fields
