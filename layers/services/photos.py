"""Photos attached to a case's timeline: only images, at most MAX_BYTES, recognised by their
content (never by the name or type the client claims), stored under a name of our own."""

from __future__ import annotations

import uuid

from django.core.files.uploadedfile import UploadedFile

MAX_BYTES = 10 * 1024 * 1024

# (signature, its offset, extension, content type). Pillow is not a dependency, and the
# signature is all the server needs: the photo is stored and handed back, never decoded here.
_SIGNATURES: list[tuple[bytes, int, str, str]] = [
    (b"\xff\xd8\xff", 0, "jpg", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "png", "image/png"),
    (b"GIF87a", 0, "gif", "image/gif"),
    (b"GIF89a", 0, "gif", "image/gif"),
    (b"WEBP", 8, "webp", "image/webp"),  # after "RIFF" and the size
    (b"ftypheic", 4, "heic", "image/heic"),  # phone cameras (iOS)
    (b"ftypheix", 4, "heic", "image/heic"),
    (b"ftypmif1", 4, "heif", "image/heif"),
]
CONTENT_TYPES = {ext: ctype for _, _, ext, ctype in _SIGNATURES}
ACCEPTED = "JPEG, PNG, GIF, WebP, HEIC/HEIF"


class PhotoError(ValueError):
    """A refused upload: a code and a bilingual message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _sniff(head: bytes) -> str | None:
    for signature, offset, ext, _ctype in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            if ext == "webp" and not head.startswith(b"RIFF"):
                continue
            return ext
    return None


def checked_photo(upload: UploadedFile) -> UploadedFile:
    """The upload renamed to `<uuid>.<ext>`, or PhotoError if it is too large or not an image."""
    if upload.size > MAX_BYTES:
        size_mb = upload.size / 1024 / 1024
        raise PhotoError(
            "photo_too_large",
            f"照片不能超过 10 MB，收到 {size_mb:.1f} MB / a photo must not exceed 10 MB, "
            f"got {size_mb:.1f} MB",
        )
    upload.seek(0)
    ext = _sniff(upload.read(16))
    upload.seek(0)
    if ext is None:
        raise PhotoError(
            "photo_not_an_image",
            f"只接受图片（{ACCEPTED}） / only images are accepted ({ACCEPTED})",
        )
    # The client's file name may carry personal details; the stored name says nothing.
    upload.name = f"{uuid.uuid4().hex}.{ext}"
    return upload


def content_type(name: str) -> str:
    """The content type of a stored photo, by the extension checked_photo gave it."""
    return CONTENT_TYPES.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream")
