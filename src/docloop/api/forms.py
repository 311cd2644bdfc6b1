"""Reading multipart and JSON bodies the way every Nanonets client sends them.

Python's requests idiom ``files={"data": ("", json)}`` sends fields as file parts with an empty
file name; other clients send plain form fields or JSON. All end up as text fields here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from docloop.errors import InvalidInput
from docloop.services.datasets import IncomingFile

FILE_FIELDS = ("file", "files", "file[]")


@dataclass
class ParsedBody:
    files: list[IncomingFile] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    lists: dict[str, list[Any]] = field(default_factory=dict)


async def parse_body(request: Request, max_bytes: int) -> ParsedBody:
    ctype = request.headers.get("content-type", "")
    out = ParsedBody()
    if ctype.startswith("application/json"):
        raw = await request.body()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise InvalidInput(f"body is not valid JSON: {exc}") from None
            if not isinstance(body, dict):
                raise InvalidInput("body must be a JSON object")
            out.fields = body
            out.lists = {k: v if isinstance(v, list) else [v] for k, v in body.items()}
        return out
    if not (
        ctype.startswith("multipart/form-data")
        or ctype.startswith("application/x-www-form-urlencoded")
    ):
        return out
    try:
        form = await request.form(max_files=1000, max_fields=1000, max_part_size=64 * 1024 * 1024)
    except Exception as exc:
        raise InvalidInput(f"could not read the form: {exc}") from None
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            data = await value.read(max_bytes + 1)
            if key in FILE_FIELDS and value.filename:
                out.files.append(IncomingFile(value.filename, data))
                continue
            value = data.decode("utf-8", errors="replace")
        out.fields.setdefault(key, value)
        out.lists.setdefault(key, []).append(value)
    return out


def list_field(body: ParsedBody, name: str) -> list[Any]:
    """A list sent as a JSON list, repeated form fields, or one field holding a JSON list."""
    value = body.fields.get(name)
    if isinstance(value, list):
        return value
    values = body.lists.get(name) or body.lists.get(name + "[]") or []
    if len(values) == 1 and isinstance(values[0], str) and values[0].strip().startswith("["):
        try:
            parsed = json.loads(values[0])
        except ValueError as exc:
            raise InvalidInput(f"{name} is not valid JSON: {exc}") from None
        return parsed if isinstance(parsed, list) else [parsed]
    return values
