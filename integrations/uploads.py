"""Spec bodies on their way from the web process to the import worker.

The web process never holds a big spec in memory and never parses one: a dashboard upload is
streamed to a temporary file by ``SpecUploadHandler`` (Django's TemporaryFileUploadHandler,
capped while streaming, the Content-Length checked first), an API body is copied to a
temporary file in 64 KiB chunks (``store_stream``), and either is then moved into Django's
default storage (``STORAGES["default"]``, ``MEDIA_ROOT``) under ``spec-imports/``, named after
the import it belongs to. The import task reads it from there (``read_text``) and deletes it
once the spec is stored in the database; a refused spec's body stays until the import is
cleaned up, so that the text it held can be put back in the editor.

The storage must be shared by every web and worker process (one folder they all mount, or
another Django storage backend such as django-storages' S3): see README, Deploy.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadhandler import SkipFile, TemporaryFileUploadHandler

from . import openapi

UPLOAD_DIR = "spec-imports"
CHUNK = 64 * 1024
#: What a multipart form adds around the file (boundaries, the CSRF token, the source radio,
#: an empty paste field): a body longer than the cap by more than this has a file over it.
FORM_OVERHEAD = 64 * 1024
#: Kinds of stored body: the spec's text, or an API request's JSON body, which may be an
#: envelope (``{"spec": ...}``) the worker unwraps.
SPEC, JSON_BODY = "spec", "json"


class TooLarge(Exception):
    """A body over the cap; ``size`` is its real size when the client said it
    (Content-Length), else None (only known to be over the cap)."""

    def __init__(self, size: int | None) -> None:
        super().__init__(size)
        self.size = size


def name_for(public_id: str, kind: str = SPEC) -> str:
    return f"{UPLOAD_DIR}/{public_id}.{kind}"


def find(public_id: str) -> tuple[str, str] | None:
    """(storage name, kind) of the stored body of an import, if there is one."""
    for kind in (SPEC, JSON_BODY):
        name = name_for(public_id, kind)
        if default_storage.exists(name):
            return name, kind
    return None


def delete(public_id: str) -> None:
    for kind in (SPEC, JSON_BODY):
        default_storage.delete(name_for(public_id, kind))


def _content_length(meta: Any) -> int | None:
    try:
        size = int(meta.get("CONTENT_LENGTH") or "")
    except (AttributeError, TypeError, ValueError):
        return None
    return size if size >= 0 else None


class SpecUploadHandler(TemporaryFileUploadHandler):
    """Every uploaded file goes to a temporary file on disk from its first byte (this handler
    replaces the memory handler: FILE_UPLOAD_MAX_MEMORY_SIZE does not apply), and a file is
    dropped as soon as it passes ``limit`` bytes, the rest of it read and thrown away.
    ``too_large`` is then True. A request whose Content-Length is over the cap plus the form's
    overhead never writes a byte of its file."""

    def __init__(self, request: Any = None, limit: int = openapi.MAX_SPEC_BYTES) -> None:
        super().__init__(request)
        self.limit = limit
        self.too_large = False
        self.request_size: int | None = None

    def handle_raw_input(self, input_data: Any, META: Any, content_length: int,  # noqa: N803
                         boundary: Any, encoding: str | None = None) -> None:
        self.request_size = content_length
        return None

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        if self.request_size is not None and self.request_size > self.limit + FORM_OVERHEAD:
            self.too_large = True
            raise SkipFile
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if start + len(raw_data) > self.limit:
            self.too_large = True
            self.upload_interrupted()  # the partial temporary file is removed at once
            raise SkipFile
        self.file.write(raw_data)


def install_handler(request: Any, limit: int | None = None) -> SpecUploadHandler:
    """Use only ``SpecUploadHandler`` for this request (before its body is read)."""
    handler = SpecUploadHandler(request, openapi.MAX_SPEC_BYTES if limit is None else limit)
    request.upload_handlers = [handler]
    return handler


class _TempFile(File):
    """A finished temporary file: FileSystemStorage moves it into place instead of copying."""

    def temporary_file_path(self) -> str:
        return self.file.name


def _temp_file() -> IO[bytes]:
    return tempfile.NamedTemporaryFile(  # noqa: SIM115 - handed over, closed by the caller
        prefix="spec-", suffix=".upload", dir=settings.FILE_UPLOAD_TEMP_DIR, delete=False)


def _drain(stream: IO[bytes]) -> None:
    while stream.read(CHUNK):
        pass


def save(public_id: str, content: File, kind: str = SPEC) -> str:
    """Put a finished file (an upload or a temporary file) into the storage."""
    name = name_for(public_id, kind)
    default_storage.delete(name)
    stored = default_storage.save(name, content)
    if stored != name:  # the storage picked another name: never expected, keep ours findable
        default_storage.delete(stored)
        raise RuntimeError(f"storage saved {name} as {stored}")
    return name


def save_text(public_id: str, text: str) -> int:
    """Store a pasted field's text (already in memory: Django caps form fields)."""
    data = text.encode("utf-8", "surrogatepass")
    from django.core.files.base import ContentFile

    save(public_id, ContentFile(data))
    return len(data)


def store_stream(public_id: str, stream: IO[bytes] | None, *, limit: int,
                 content_length: int | None, kind: str = SPEC, head: bytes = b"") -> int:
    """Copy a request body (after ``head``, bytes already read from it) to the storage in
    chunks, refusing it past ``limit``: ``TooLarge`` with the Content-Length when the client
    sent one over the cap (nothing written then), else None. Returns the size stored."""
    if content_length is not None and content_length > limit:
        if stream is not None:
            _drain(stream)
        raise TooLarge(content_length)
    tmp = _temp_file()
    size = 0
    try:
        for chunk in _chunks(stream, head):
            size += len(chunk)
            if size > limit:
                if stream is not None:
                    _drain(stream)
                raise TooLarge(None)
            tmp.write(chunk)
        tmp.flush()
        tmp.seek(0)
        save(public_id, _TempFile(tmp), kind)
    finally:
        tmp.close()
        if os.path.exists(tmp.name):
            os.remove(tmp.name)
    return size


def _chunks(stream: IO[bytes] | None, head: bytes) -> Iterator[bytes]:
    if head:
        yield head
    if stream is None:
        return
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return
        yield chunk


def read_bytes(name: str, limit: int) -> bytes:
    """The stored body (worker side), or ``TooLarge`` past ``limit``."""
    with default_storage.open(name, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(None)
    return data
