"""The files of a v2 prediction request: multipart parts, or base64 text in JSON or a form.

Besides ``file`` parts, a client may send ``base64_data`` (one string or a list; a ``data:``
URL prefix is dropped), named by ``filename`` (or ``filenames``, one per string) when given.
"""

from __future__ import annotations

import base64
import binascii

from docloop.api.forms import ParsedBody, list_field
from docloop.errors import InvalidInput
from docloop.services.datasets import IncomingFile

BASE64_FIELD = "base64_data"


def incoming_files(body: ParsedBody) -> list[IncomingFile]:
    """The uploaded parts followed by the decoded base64 ones."""
    encoded = list_field(body, BASE64_FIELD) if BASE64_FIELD in body.fields else []
    names = list_field(body, "filenames") if "filenames" in body.fields else []
    single = body.fields.get("filename")
    out = list(body.files)
    for n, text in enumerate(encoded):
        if not isinstance(text, str):
            raise InvalidInput(f"{BASE64_FIELD} item {n} must be a base64 string")
        name = names[n] if n < len(names) else single if len(encoded) == 1 and single else None
        out.append(IncomingFile(str(name or f"file-{n}"), _decode(text, n)))
    return out


def _decode(text: str, n: int) -> bytes:
    payload = text.split(",", 1)[1] if text.startswith("data:") else text
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{BASE64_FIELD} item {n} is not valid base64: {exc}") from None
