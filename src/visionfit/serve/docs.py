"""`/docs`: the OpenAPI description as a plain page that needs no network.

FastAPI's own Swagger UI loads its scripts from a CDN, so offline it shows a blank page; this one
renders the same `openapi.json` server-side (endpoints, parameters, bodies, responses, and a
curl example). Swagger UI stays available at `/swagger` for online use.
"""

from __future__ import annotations

import html

_CSS = """body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:900px;
padding:0 20px 40px;
color:#1d2330}h1{font-size:22px}h2{font-size:17px;margin-top:26px}code,pre{background:#f3f4f7;
border-radius:4px}pre{padding:10px;overflow:auto;font-size:12.5px}.m{display:inline-block;
min-width:3.6em;padding:1px 6px;border-radius:3px;color:#fff;font-weight:600;font-size:13px}
.get{background:#2456c8}.post{background:#1a8f4c}td,th{padding:3px 8px;border-bottom:1px solid
#e3e6ec;text-align:left;vertical-align:top}table{border-collapse:collapse;font-size:14px}"""


def render_docs(spec: dict, example_url: str = "http://127.0.0.1:8000") -> str:
    esc = html.escape
    info = spec.get("info", {})
    parts = [
        f"<h1>{esc(info.get('title', 'API'))}</h1><p>{esc(info.get('description', ''))}</p>",
        "<p>Machine-readable: <a href='openapi.json'>openapi.json</a> · "
        "interactive (loads Swagger UI from the internet): <a href='swagger'>/swagger</a></p>",
    ]
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            parts.append(_operation(spec, path, method, op, example_url))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>API docs</title>"
        f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>"
    )


def _operation(spec: dict, path: str, method: str, op: dict, url: str) -> str:
    esc = html.escape
    head = (
        f"<h2><span class='m {esc(method)}'>{esc(method.upper())}</span> <code>{esc(path)}</code>"
        f" {esc(op.get('summary', ''))}</h2>"
    )
    rows = []
    body = op.get("requestBody", {}).get("content", {})
    for ctype, content in body.items():
        schema = _resolve(spec, content.get("schema", {}))
        for name, prop in schema.get("properties", {}).items():
            prop = _resolve(spec, prop)
            kind = prop.get("format") or prop.get("type") or prop.get("contentMediaType") or ""
            rows.append((name, f"{ctype}, {kind}", prop.get("description", "")))
    for p in op.get("parameters", []):
        rows.append((p.get("name"), p.get("in"), p.get("description", "")))
    table = ""
    if rows:
        cells = "".join(f"<tr><td><code>{esc(str(a))}</code></td><td>{esc(str(b))}</td>"
                        f"<td>{esc(str(c))}</td></tr>" for a, b, c in rows)  # fmt: skip
        table = (
            f"<table><tr><th>field</th><th>where / type</th><th>meaning</th></tr>{cells}</table>"
        )
    codes = ", ".join(
        f"{esc(k)} {esc(v.get('description', ''))}" for k, v in op.get("responses", {}).items()
    )
    example = f"curl {url}{path}"
    if method == "post" and body:
        example = f"curl -F file=@image.png {url}{path}"
    return f"{head}{table}<p>Responses: {codes}</p><pre>{esc(example)}</pre>"


def _resolve(spec: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    if not ref:
        return schema
    node = spec
    for key in ref.lstrip("#/").split("/"):
        node = node.get(key, {})
    return node
