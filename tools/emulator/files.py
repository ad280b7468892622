"""Files kept by the emulator, as Telegram keeps them: uploads, ``file_id`` reuse, photo sizes, limits.

Every file has a kind (photo, video, animation, voice, audio, document) fixed when it is uploaded, as
Telegram's file ids are: a ``file_id`` sends again only as its own kind, otherwise Telegram's "type of file
mismatch". A photo is kept as a set of sizes (Telegram's thumbnails 90, 320, 800, 1280 px on the long side,
those smaller than the image, then the image itself); the emulator cannot resize, so every size downloads
as the uploaded bytes and its ``file_size`` is their length. Image dimensions are read from PNG, GIF, JPEG,
WebP and BMP headers; other bytes sent as a photo get :data:`DEFAULT_PHOTO_SIZE`. Videos, animations and
voice notes take their width, height and duration from the request (Telegram probes the file; the emulator
cannot), with :data:`DEFAULT_VIDEO_SIZE` and a duration of 0 when not given.

An HTTP URL is refused with Telegram's "failed to get HTTP URL content": the emulator has no internet of its
own, and a test that passed a URL would otherwise pass against the emulator and fail against Telegram
whenever the URL does not serve what Telegram accepts.
"""

from __future__ import annotations

import mimetypes
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any, Final

from tools.emulator.markup import BadRequest

# Telegram's limits for bots on the public Bot API server.
MAX_UPLOAD: Final = 50 * 1024 * 1024
MAX_PHOTO_UPLOAD: Final = 10 * 1024 * 1024
MAX_DOWNLOAD: Final = 20 * 1024 * 1024
# A photo's width and height must not exceed 10000 in total, and their ratio must be at most 20.
MAX_PHOTO_SIDES: Final = 10_000
MAX_PHOTO_RATIO: Final = 20
# The long side of Telegram's photo thumbnails (types s, m, x, y); the original is capped at 2560.
PHOTO_THUMBNAIL_SIDES: Final = (90, 320, 800, 1280)
MAX_PHOTO_SIDE: Final = 2560
DEFAULT_PHOTO_SIZE: Final = (512, 512)
DEFAULT_VIDEO_SIZE: Final = (640, 360)
KINDS: Final = ("photo", "video", "animation", "voice", "audio", "document")
# Real file ids start with the file type and the DC; kept so a file_id looks like the kind it is.
_FILE_ID_PREFIX: Final = {"photo": "AgACAgIAAxkBAAI", "video": "BAACAgIAAxkBAAI", "animation": "CgACAgIAAxkBAAI",
                          "voice": "AwACAgIAAxkBAAI", "audio": "CQACAgIAAxkBAAI", "document": "BQACAgIAAxkBAAI"}  # fmt: skip
_DIRECTORY: Final = {"photo": "photos", "video": "videos", "animation": "animations", "voice": "voice",
                     "audio": "music", "document": "documents"}  # fmt: skip
_DEFAULT_MIME: Final = {"photo": "image/jpeg", "video": "video/mp4", "animation": "video/mp4", "voice": "audio/ogg",
                        "audio": "audio/mpeg", "document": "application/octet-stream"}  # fmt: skip
WRONG_FILE: Final = "Bad Request: wrong file identifier/HTTP URL specified"


@dataclass
class Upload:
    """A file part of a multipart request, as the client sent it."""

    file_name: str
    content_type: str
    content: bytes


@dataclass
class StoredFile:
    """A file Telegram keeps; its ``file_id`` sends it again and ``file_path`` downloads it.

    A photo's ``sizes`` are the file ids of its whole set of sizes (this one among them), smallest first.
    """

    file_id: str
    file_unique_id: str
    file_name: str
    mime_type: str
    content: bytes
    file_path: str
    kind: str = "document"
    width: int = 0
    height: int = 0
    duration: int = 0
    sizes: list[str] = field(default_factory=list)


def store(files: dict[str, StoredFile], upload: Upload, kind: str = "document", *, width: int = 0, height: int = 0,
          duration: int = 0) -> StoredFile:  # fmt: skip
    """Keep an upload as a file of ``kind`` (a photo with its sizes); Telegram's size limits are checked."""
    if not upload.content:
        raise BadRequest("Bad Request: file must be non-empty")
    if len(upload.content) > MAX_UPLOAD:
        raise BadRequest("Request Entity Too Large", 413)
    if kind == "photo":
        return _store_photo(files, upload)
    # Telegram names the type by the file's extension, not by what the client claimed.
    declared = upload.content_type if upload.content_type != "application/octet-stream" else None
    default = _DEFAULT_MIME[kind] if kind != "document" else None
    mime_type = mimetypes.guess_type(upload.file_name)[0] or declared or default or "application/octet-stream"
    if kind in {"video", "animation"} and not (width and height):
        width, height = DEFAULT_VIDEO_SIZE
    return _keep(files, upload.file_name, mime_type, upload.content, kind, width, height, duration)


def resolve(files: dict[str, StoredFile], value: Any, kind: str, **probe: int) -> StoredFile:
    """The file a request names: a fresh upload (stored as ``kind``), or a ``file_id`` of that kind."""
    if isinstance(value, Upload):
        return store(files, value, kind, **probe)
    if value is None or value == "":
        raise BadRequest(f"Bad Request: there is no {kind} in the request")
    if str(value).startswith(("http://", "https://")):
        raise BadRequest("Bad Request: failed to get HTTP URL content")
    if str(value).startswith("attach://"):
        raise BadRequest(WRONG_FILE)
    stored = files.get(str(value))
    if stored is None:
        raise BadRequest(WRONG_FILE)
    if stored.kind != kind:
        raise BadRequest("Bad Request: type of file mismatch")
    return stored


def photo_sizes(files: dict[str, StoredFile], photo: StoredFile) -> list[dict[str, Any]]:
    """A photo as Telegram shows it: a PhotoSize for each of its sizes, smallest first."""
    return [{"file_id": size.file_id, "file_unique_id": size.file_unique_id, "width": size.width,
             "height": size.height, "file_size": len(size.content)}
            for size in (files[file_id] for file_id in photo.sizes or [photo.file_id])]  # fmt: skip


def largest(files: dict[str, StoredFile], photo: StoredFile) -> StoredFile:
    """The biggest size of a photo (what a client opens)."""
    return files[photo.sizes[-1]] if photo.sizes else photo


def image_size(content: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG, GIF, JPEG, WebP or BMP header; None for anything else."""
    try:
        if content.startswith(b"\x89PNG\r\n\x1a\n") and content[12:16] == b"IHDR":
            width, height = struct.unpack(">II", content[16:24])
            return int(width), int(height)
        if content[:6] in {b"GIF87a", b"GIF89a"}:
            width, height = struct.unpack("<HH", content[6:10])
            return int(width), int(height)
        if content.startswith(b"\xff\xd8"):
            return _jpeg_size(content)
        if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
            return _webp_size(content)
        if content.startswith(b"BM") and len(content) >= 26:
            width, height = struct.unpack("<ii", content[18:26])
            return int(width), abs(int(height))
    except struct.error:
        return None
    return None


def _jpeg_size(content: bytes) -> tuple[int, int] | None:
    """The frame size from the first SOF marker (any of C0–CF but the DHT, JPG and DAC markers)."""
    position = 2
    while position + 9 < len(content):
        if content[position] != 0xFF:
            return None
        marker = content[position + 1]
        if marker in {0xD8, 0x01} or 0xD0 <= marker <= 0xD7:
            position += 2
            continue
        (length,) = struct.unpack(">H", content[position + 2 : position + 4])
        if 0xC0 <= marker <= 0xCF and marker not in {0xC4, 0xC8, 0xCC}:
            height, width = struct.unpack(">HH", content[position + 5 : position + 9])
            return int(width), int(height)
        position += 2 + length
    return None


def _webp_size(content: bytes) -> tuple[int, int] | None:
    chunk = content[12:16]
    if chunk == b"VP8 " and len(content) >= 30:
        width, height = struct.unpack("<HH", content[26:30])
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    if chunk == b"VP8L" and len(content) >= 25:
        bits = int.from_bytes(content[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(content) >= 30:
        return int.from_bytes(content[24:27], "little") + 1, int.from_bytes(content[27:30], "little") + 1
    return None


def _store_photo(files: dict[str, StoredFile], upload: Upload) -> StoredFile:
    if len(upload.content) > MAX_PHOTO_UPLOAD:
        raise BadRequest("Bad Request: PHOTO_SAVE_FILE_INVALID")
    width, height = image_size(upload.content) or DEFAULT_PHOTO_SIZE
    if (
        width <= 0
        or height <= 0
        or width + height > MAX_PHOTO_SIDES
        or max(width, height) > MAX_PHOTO_RATIO * min(width, height)
    ):
        raise BadRequest("Bad Request: PHOTO_INVALID_DIMENSIONS")
    mime_type = mimetypes.guess_type(upload.file_name)[0] or _DEFAULT_MIME["photo"]
    boxes = [side for side in PHOTO_THUMBNAIL_SIDES if side < max(width, height)] + [MAX_PHOTO_SIDE]
    sizes = []
    for box in boxes:
        scale = min(1.0, box / max(width, height))
        size = _keep(files, upload.file_name, mime_type, upload.content, "photo", max(1, round(width * scale)),
                     max(1, round(height * scale)), 0)  # fmt: skip
        sizes.append(size)
    for size in sizes:
        size.sizes = [s.file_id for s in sizes]
    return sizes[-1]


def _keep(files: dict[str, StoredFile], file_name: str, mime_type: str, content: bytes, kind: str, width: int,
          height: int, duration: int) -> StoredFile:  # fmt: skip
    extension = file_name.rpartition(".")[2] if "." in file_name else ("jpg" if kind == "photo" else "bin")
    stored = StoredFile(
        file_id=f"{_FILE_ID_PREFIX[kind]}{secrets.token_urlsafe(24)}",
        file_unique_id=f"AgAD{secrets.token_urlsafe(9)}",
        file_name=file_name,
        mime_type=mime_type,
        content=content,
        file_path=f"{_DIRECTORY[kind]}/file_{len(files)}.{extension}",
        kind=kind,
        width=width,
        height=height,
        duration=duration,
    )
    files[stored.file_id] = stored
    return stored
