"""Reading the UI's HTML forms: every change is a POST of an urlencoded form.

``form_fields`` is the one place a posted form is read, so it is where a request's
CSRF token is verified (``verify_form``), once users and sessions exist.
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
    """The hook where a state-changing form's CSRF token is checked against the session.

    Every form the UI renders carries the hidden fields of ``macros.html``'s ``csrf()``;
    until users and sessions exist there is no token to compare, so every form passes.
    """
    del request, fields
