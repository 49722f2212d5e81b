"""The API's docs page, rendered on the server from the OpenAPI document (no CDN, no JS)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;color:#1b1f24;background:#fff;margin:0 auto;max-width:980px;padding:24px}
h1{font-size:24px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #d0d7de}
.op{border:1px solid #d0d7de;border-radius:6px;margin:12px 0;padding:10px 14px}
.method{display:inline-block;min-width:64px;font-weight:700;font-family:monospace}
.get{color:#0a5c2e}.post{color:#0b4a8b}.delete{color:#9a1b1b}.put,.patch{color:#7a4b00}
code,pre{font-family:ui-monospace,monospace;font-size:13px;background:#f6f8fa;border-radius:4px}
pre{padding:8px;overflow:auto}table{border-collapse:collapse;margin:6px 0}
td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;font-size:14px}
.perm{color:#57606a;font-size:13px}a{color:#0b4a8b}a:focus,summary:focus{outline:2px solid #0b4a8b}
"""


def docs_page(openapi: dict[str, Any]) -> str:
    """One HTML page listing every operation: parameters, body, answers, permission."""
    info = openapi.get("info", {})
    groups: dict[str, list[str]] = {}
    for path, operations in sorted(openapi.get("paths", {}).items()):
        for method, operation in operations.items():
            tag = (operation.get("tags") or ["other"])[0]
            groups.setdefault(tag, []).append(_operation(method, path, operation))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(info.get('title', 'API'))}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(info.get('title', 'API'))} <small>{escape(info.get('version', ''))}</small></h1>",
        f"<p>{escape(info.get('description', ''))}</p>",
        "<p>The machine-readable document: <a href='/api/v1/openapi.json'>/api/v1/openapi.json</a>. "
        "Errors are <code>application/problem+json</code> documents whose <code>detail</code> "
        "is what the command line prints.</p>",
        "<nav><ul>",
        *(f"<li><a href='#{escape(tag)}'>{escape(tag)}</a></li>" for tag in groups),
        "</ul></nav>",
    ]
    for tag, operations in groups.items():
        parts.append(f"<h2 id='{escape(tag)}'>{escape(tag)}</h2>")
        parts.extend(operations)
    schemas = openapi.get("components", {}).get("schemas", {})
    if schemas:
        parts.append("<h2 id='schemas'>schemas</h2>")
        for name, schema in sorted(schemas.items()):
            parts.append(
                f"<details id='schema-{escape(name)}'><summary>{escape(name)}</summary>"
                f"<pre>{escape(json.dumps(schema, indent=2))}</pre></details>"
            )
    parts.append("</body></html>")
    return "".join(parts)


def _operation(method: str, path: str, operation: dict[str, Any]) -> str:
    parts = [
        "<div class='op'>",
        f"<span class='method {escape(method)}'>{escape(method.upper())}</span> ",
        f"<code>{escape(path)}</code>",
    ]
    if operation.get("x-permission"):
        parts.append(f" <span class='perm'>needs {escape(operation['x-permission'])}</span>")
    if operation.get("summary"):
        parts.append(f"<div><strong>{escape(operation['summary'])}</strong></div>")
    if operation.get("description"):
        parts.append(f"<div>{escape(operation['description'])}</div>")
    parameters = operation.get("parameters", [])
    if parameters:
        parts.append("<table><tr><th>parameter</th><th>in</th><th>type</th><th>about</th></tr>")
        for parameter in parameters:
            schema = parameter.get("schema", {})
            kind = schema.get("type") or " | ".join(
                str(s.get("type", "")) for s in schema.get("anyOf", [])
            )
            required = " (required)" if parameter.get("required") else ""
            parts.append(
                f"<tr><td><code>{escape(parameter['name'])}</code>{required}</td>"
                f"<td>{escape(parameter.get('in', ''))}</td><td>{escape(str(kind))}</td>"
                f"<td>{escape(parameter.get('description', '') or schema.get('description', ''))}</td></tr>"
            )
        parts.append("</table>")
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    if body:
        parts.append(
            f"<div>body: <code>{escape(_schema_name(body.get('schema', {})))}</code></div>"
        )
    answers = ", ".join(
        f"{escape(code)} {escape(answer.get('description', ''))}"
        for code, answer in operation.get("responses", {}).items()
    )
    parts.append(f"<div>answers: {answers}</div></div>")
    return "".join(parts)


def _schema_name(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref else str(schema.get("type", "object"))
