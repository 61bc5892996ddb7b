"""Files agents attach to replies: which types and sizes are taken, where the bytes live, and the
signed addresses providers fetch them from.

Owns the storage layout (`<data dir>/uploads/<tenant>/<storage_key>`, the key random, so a name on
disk says nothing), the streaming write with its size limit, the type allowlist, and signing. Rows
are written by inbox/actions/uploads.py; the routes are inbox/api/uploads.py. Agents read a file
through the app with their token (their tenant's only); providers, which fetch media by URL, get an
unguessable address signed with the app's secret key that expires (`public_url`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from inbox.crypto import SecretBox
from inbox.errors import ActionError
from inbox.serialize import iso

FOLDER = "uploads"
# How long a provider may take to fetch a file after we send: beyond the outbox's retries (minutes)
# and WhatsApp's own re-fetches. Past it the address answers 404 like a wrong one.
PUBLIC_URL_SECONDS = 7 * 24 * 3600

# What an agent may attach: the media the networks carry (images, audio, video) and common
# documents. Nothing a browser would run when opened (HTML, SVG, scripts): files are served back
# with `nosniff` and a sandboxing CSP all the same.
# https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#supported-media-types
ALLOWED_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "audio/mpeg",
        "audio/ogg",
        "audio/aac",
        "audio/mp4",
        "audio/amr",
        "audio/wav",
        "audio/webm",
        "video/mp4",
        "video/3gpp",
        "video/webm",
        "video/quicktime",
        "application/pdf",
        "text/plain",
        "text/csv",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/zip",
    }
)
# Opened in the browser tab; anything else downloads.
INLINE_TYPES = ("image/", "audio/", "video/", "application/pdf", "text/plain")


class TooLarge(ActionError):
    status = 413
    code = "upload_too_large"


class UnsupportedType(ActionError):
    status = 415
    code = "upload_type"


def media_type(content_type: str | None) -> str:
    """The bare, lower-case MIME type of a Content-Type header (parameters dropped)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_type(content_type: str | None) -> str:
    mime = media_type(content_type)
    if not mime:
        raise UnsupportedType("send the file with its Content-Type (image/png, application/pdf, ...)")
    if mime not in ALLOWED_TYPES:
        raise UnsupportedType(
            f"files of type {mime[:100]} cannot be attached: images, audio, video, PDF and office "
            "documents can"
        )
    return mime


def kind_of(mime: str) -> str:
    """image/*, audio/*, video/* by their major type, anything else a file (as for inbound files)."""
    major = mime.split("/", 1)[0]
    return major if major in ("image", "audio", "video") else "file"


def clean_name(name: str | None, mime: str) -> str:
    """A display and download name: no folders, no control characters, at most 300 characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip().strip(".")
    return base[:300] or kind_of(mime)


def size_text(size: int) -> str:
    """16 MB, 1.5 MB, 300 KB, 1000 bytes: how a limit reads in an error."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


def folder(data_dir: Path, tenant_id: int) -> Path:
    return data_dir / FOLDER / str(int(tenant_id))


def path_of(data_dir: Path, tenant_id: int, storage_key: str) -> Path:
    return folder(data_dir, tenant_id) / storage_key


async def store(
    data_dir: Path, tenant_id: int, chunks: AsyncIterator[bytes], declared: str | None, max_bytes: int
) -> tuple[str, int]:
    """Stream a body into the tenant's folder; returns (storage_key, size). Raises `TooLarge` as soon
    as the body passes `max_bytes` (a declared Content-Length past it is refused unread) and
    `ActionError` for an empty body; nothing stays on disk then. (The webhook reader keeps its 1 MiB
    body in memory; an upload goes to disk as it arrives.)"""
    limit = f"a file may be at most {size_text(max_bytes)}"
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"this file is {size_text(int(declared))}; {limit}", params={"max_bytes": max_bytes})
    target = folder(data_dir, tenant_id)
    target.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(16)
    tmp = target / f".part-{key}"
    size = 0
    # Disk writes in a thread: a slow disk must not stall the event loop (one hop per chunk).
    f = await asyncio.to_thread(open, tmp, "wb")
    try:
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(
                        f"this file is over {size_text(max_bytes)}; {limit}", params={"max_bytes": max_bytes}
                    )
                await asyncio.to_thread(f.write, chunk)
        finally:
            await asyncio.to_thread(f.close)
        if size == 0:
            raise ActionError("the file is empty", code="upload_empty")
        os.replace(tmp, target / key)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return key, size


def _message(tenant_id: int, upload_id: int, expires: int) -> str:
    return f"upload:{int(tenant_id)}:{int(upload_id)}:{expires}"


def public_path(box: SecretBox, tenant_id: int, upload_id: int, *, now: float | None = None) -> str:
    """`/media/{id}/{expires}.{signature}`: what a provider fetches, valid for PUBLIC_URL_SECONDS.
    The signature covers the tenant, the upload and the expiry."""
    expires = int((now if now is not None else time.time()) + PUBLIC_URL_SECONDS)
    signature = box.sign(_message(tenant_id, upload_id, expires))
    return f"/media/{int(upload_id)}/{expires}.{signature}"


def public_url(public_base: str | None, box: SecretBox, tenant_id: int, upload_id: int) -> str | None:
    """The absolute signed address (None without INBOX_PUBLIC_URL: no provider could reach us)."""
    return None if not public_base else public_base.rstrip("/") + public_path(box, tenant_id, upload_id)


def signed(box: SecretBox, tenant_id: int, upload_id: int, token: str, *, now: float | None = None) -> bool:
    """Whether `token` (`{expires}.{signature}`) is ours for this upload and not expired."""
    expires, _, signature = token.partition(".")
    if not expires.isdigit() or not signature or len(expires) > 12:
        return False
    if int(expires) < (now if now is not None else time.time()):
        return False
    return box.verify(_message(tenant_id, upload_id, int(expires)), signature)


def attachment(row: Any) -> dict[str, Any]:
    """A reply's attachment from an upload row: served back through the app (`url`), sent out
    through a signed address made at send time (`upload_id`)."""
    return {
        "kind": kind_of(row.mime_type),
        "url": f"/api/uploads/{row.id}",
        "mime_type": row.mime_type,
        "name": row.name,
        "size": row.size,
        "upload_id": row.id,
    }


def upload_json(row: Any) -> dict[str, Any]:
    return {**attachment(row), "id": row.id, "created_at": iso(row.created_at)}
