"""Media the content names, as Telegram knows it: each key's ``file_id`` per bot.

A file shipped with the content (``content/media/``) is uploaded the first time a screen shows it; the ``file_id``
Telegram answers with is kept in Postgres (``media_files``) and every later screen sends that instead of the bytes.
The file's sha256 is kept with it: a file the creator replaced is uploaded again, and so is one whose ``file_id``
Telegram no longer knows (``forget``). Media an admin registered by sending it to the bot (``/media``) has no file:
Telegram keeps it, and its ``file_id`` is all there is.

The ``file_id``s a process has used are kept in memory too, and Postgres being away never stops a screen: a
``file_id`` it cannot read is an upload instead (the photo still arrives), one it cannot write is written next time.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import asyncpg

from workflows.content import Content
from workflows.contracts import MediaKind, ScreenMedia

# Where the content's media files are (``media[].file`` names files here).
SHIPPED_MEDIA: Final = Path(__file__).resolve().parent.parent / "content" / "media"
log = logging.getLogger("diana.media")
# How long a screen waits for Postgres before it uploads the file instead.
LOOKUP_SECONDS: Final = 2.0
_POSTGRES_AWAY: Final = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError)
# The Bot API's limits for an upload by multipart/form-data: 10 MB for a photo, 50 MB for anything else.
UPLOAD_LIMITS: Final[dict[str, int]] = {"photo": 10 * 1024 * 1024}
UPLOAD_LIMIT: Final = 50 * 1024 * 1024


def upload_limit(kind: str) -> int:
    return UPLOAD_LIMITS.get(kind, UPLOAD_LIMIT)


def media_file_problems(content: Content, media_dir: Path) -> list[str]:
    """Every file the content ships is a plain file in ``media_dir`` that Telegram takes as an upload."""
    problems: list[str] = []
    folder = media_dir.resolve()
    for media in content.media:
        if media.file is None:
            continue
        path = folder / media.file
        where = f"media {media.key}: {media.file}"
        if path.is_symlink() or not path.resolve().is_relative_to(folder):
            problems.append(f"{where} must be a file in {media_dir}, not a link")
        elif not path.is_file():
            problems.append(f"{where} is not in {media_dir}")
        elif (size := path.stat().st_size) == 0:
            problems.append(f"{where} is empty")
        elif size > upload_limit(media.kind):
            problems.append(f"{where} is {size / 1e6:.1f} MB; Telegram takes a {media.kind} of at most "
                            f"{upload_limit(media.kind) // (1024 * 1024)} MB")  # fmt: skip
    return problems


async def registered_media_problems(conn: asyncpg.Pool | asyncpg.Connection, content: Content) -> list[str]:
    """Media the content names without a file was registered by an admin (``/media``), as the same kind."""
    wanted = {media.key: media.kind for media in content.media if media.file is None}
    if not wanted:
        return []
    rows = await conn.fetch(
        "SELECT DISTINCT key, kind FROM media_files WHERE registered_by IS NOT NULL AND key = ANY($1::text[])",
        list(wanted),
    )
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row["key"], set()).add(row["kind"])
    problems: list[str] = []
    for key, kind in wanted.items():
        if key not in found:
            problems.append(f"media {key} has no file and nobody registered it: an admin sends it to the bot with "
                            f"/media {key}, or the content ships it under content/media/")  # fmt: skip
        elif kind not in found[key]:
            problems.append(f"media {key} is registered as {', '.join(sorted(found[key]))}, not {kind}")
    return problems


@dataclass(frozen=True)
class SentFile:
    """What Telegram answered for a file it now holds."""

    file_id: str
    file_unique_id: str | None = None
    size_bytes: int | None = None


@dataclass(frozen=True)
class RegisteredMedia:
    key: str
    kind: MediaKind
    file_id: str
    size_bytes: int | None


class MediaLibrary:
    """Finds what to send for a screen's media item: a ``file_id`` Telegram knows, or the file to upload."""

    def __init__(self, pool: asyncpg.Pool, media_dir: Path) -> None:
        self._pool, self._media_dir = pool, media_dir.resolve()
        self._digests: dict[tuple[str, int, int], str] = {}
        # (bot id, key, kind) -> (file_id, sha256 of the shipped file or None)
        self._known: dict[tuple[int, str, str], tuple[str, str | None]] = {}
        self._uploads: dict[tuple[int, str], asyncio.Lock] = {}

    def uploading(self, bot_id: int, key: str) -> asyncio.Lock:
        """Held while a shipped file is uploaded, so this process uploads it once however many screens want it."""
        return self._uploads.setdefault((bot_id, key), asyncio.Lock())

    def path(self, item: ScreenMedia) -> Path | None:
        """The shipped file of ``item`` (None: registered media, or a file gone from the folder)."""
        if item.file is None:
            return None
        path = self._media_dir / item.file
        return path if path.is_file() and path.resolve().is_relative_to(self._media_dir) else None

    def _digest(self, path: Path) -> str:
        status = path.stat()
        mark = (str(path), status.st_mtime_ns, status.st_size)
        if mark not in self._digests:
            self._digests[mark] = hashlib.sha256(path.read_bytes()).hexdigest()
        return self._digests[mark]

    async def file_id(self, bot_id: int, item: ScreenMedia) -> str | None:
        """The ``file_id`` to send ``item`` by, or None when it must be uploaded (or, registered, is unknown)."""
        mark = (bot_id, item.key, item.kind)
        known = self._known.get(mark)
        if known is None:
            try:
                async with asyncio.timeout(LOOKUP_SECONDS):  # a connection to make counts too
                    row = await self._pool.fetchrow(
                        "SELECT file_id, sha256 FROM media_files WHERE bot_id = $1 AND key = $2 AND kind = $3",
                        bot_id,
                        item.key,
                        item.kind,
                    )
            except _POSTGRES_AWAY as error:
                log.warning("media %s looked up without Postgres (%s): uploaded instead", item.key, error)
                return None
            if row is None:
                return None
            known = self._known[mark] = (str(row["file_id"]), row["sha256"])
        path = self.path(item)
        if path is not None and known[1] != self._digest(path):
            return None  # the creator replaced the file: upload the new one
        return known[0]

    async def remember(self, bot_id: int, item: ScreenMedia, sent: SentFile) -> None:
        """Keep the ``file_id`` Telegram gave an uploaded shipped file."""
        path = self.path(item)
        if path is None:
            return
        digest = self._digest(path)
        self._known[(bot_id, item.key, item.kind)] = (sent.file_id, digest)
        try:
            async with asyncio.timeout(LOOKUP_SECONDS):
                await self._keep(bot_id, item, sent, digest)
        except _POSTGRES_AWAY as error:
            log.warning("file_id of media %s not kept (%s): this process remembers it", item.key, error)

    async def _keep(self, bot_id: int, item: ScreenMedia, sent: SentFile, digest: str) -> None:
        await self._pool.execute(
            """
            INSERT INTO media_files (bot_id, key, kind, file_id, file_unique_id, size_bytes, sha256)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (bot_id, key) DO UPDATE SET kind = EXCLUDED.kind, file_id = EXCLUDED.file_id,
                file_unique_id = EXCLUDED.file_unique_id, size_bytes = EXCLUDED.size_bytes,
                sha256 = EXCLUDED.sha256, registered_by = NULL, updated_at = now()
            """,
            bot_id,
            item.key,
            item.kind,
            sent.file_id,
            sent.file_unique_id,
            sent.size_bytes,
            digest,
        )

    async def forget(self, bot_id: int, keys: list[str]) -> None:
        """Telegram no longer knows these shipped files' ``file_id``s: the next screen uploads them again."""
        for mark in [mark for mark in self._known if mark[0] == bot_id and mark[1] in keys]:
            del self._known[mark]
        try:
            async with asyncio.timeout(LOOKUP_SECONDS):
                await self._pool.execute(
                    "DELETE FROM media_files WHERE bot_id = $1 AND key = ANY($2::text[]) AND registered_by IS NULL",
                    bot_id,
                    keys,
                )
        except _POSTGRES_AWAY as error:
            log.warning("lost file_ids of %s not forgotten in Postgres (%s)", keys, error)

    async def register(self, bot_id: int, key: str, kind: MediaKind, sent: SentFile, admin_id: int) -> bool:
        """An admin's media under ``key``; False when the key names a file shipped with the content."""
        registered = await self._pool.fetchval(
            """
            INSERT INTO media_files (bot_id, key, kind, file_id, file_unique_id, size_bytes, registered_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (bot_id, key) DO UPDATE SET kind = EXCLUDED.kind, file_id = EXCLUDED.file_id,
                file_unique_id = EXCLUDED.file_unique_id, size_bytes = EXCLUDED.size_bytes,
                registered_by = EXCLUDED.registered_by, updated_at = now()
                WHERE media_files.registered_by IS NOT NULL
            RETURNING key
            """,
            bot_id,
            key,
            kind,
            sent.file_id,
            sent.file_unique_id,
            sent.size_bytes,
            admin_id,
        )
        return registered is not None

    async def registered(self, bot_id: int) -> list[RegisteredMedia]:
        rows = await self._pool.fetch(
            "SELECT key, kind, file_id, size_bytes FROM media_files WHERE bot_id = $1 AND registered_by IS NOT NULL "
            "ORDER BY key",
            bot_id,
        )
        return [RegisteredMedia(key=row["key"], kind=row["kind"], file_id=row["file_id"],
                                size_bytes=row["size_bytes"]) for row in rows]  # fmt: skip
