"""/media: an admin registers a photo, video, animation, voice note, audio or document under a key the content names.

The admin sends the media with ``/media <clave>`` as its caption, or answers a media message with it (a document is
registered by answering it: a file's caption is never taken as a command). The bot keeps
Telegram's ``file_id``, kind and size (``media_files``, for this bot), answers with the lines to paste into the
content, and audits it. ``/media`` alone lists what is registered.
"""

from __future__ import annotations

import html
import re
from typing import Final

import asyncpg
from aiogram import Bot, F
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from adapters.audit import write_audit
from adapters.content_store import active_media
from adapters.media_library import MediaLibrary
from adapters.screens import ScreenSender, sent_file
from adapters.texts import language_of, t
from bot.admin_panel import FromAdmin
from bot.admins import AdminOnly, guarded_router
from bot.albums import RecentAlbums, media_messages, message_media

router = guarded_router(__name__)

KEY: Final = re.compile(r"^[a-z0-9_]{1,24}$")
LISTED: Final = 30


@router.message(Command("media"), flags={"admin": AdminOnly("register media", captions=True)})
async def register(message: Message, command: CommandObject, bot: Bot, pool: asyncpg.Pool, screens: ScreenSender,
                   recent_albums: RecentAlbums, album: list[Message] | None = None) -> None:  # fmt: skip
    """/media <clave> with (or in answer to) one media message: kept under that key for the content to show."""
    assert message.from_user is not None
    language = language_of(message.from_user.language_code)
    library: MediaLibrary = screens.library
    key = (command.args or "").strip().lower()
    found = await media_messages(message, album, recent_albums)
    if not found and not key:
        registered = await library.registered(bot.id)
        lines = [t("admin.media.item", language, name=item.key, kind=t(f"admin.media.kind.{item.kind}", language))
                 for item in registered[:LISTED]]  # fmt: skip
        listing = "\n".join(lines) if lines else t("admin.media.none", language)
        await message.answer(t("admin.media.usage", language) + "\n\n" + listing)
        return
    if not KEY.fullmatch(key):
        await message.answer(t("admin.media.bad_key", language, name=key[:40]))
        return
    if len(found) != 1:
        await message.answer(t("admin.media.one" if found else "admin.media.nothing", language))
        return
    shipped = (await active_media(pool)).get(key)
    if shipped is not None and shipped.file is not None:
        await message.answer(t("admin.media.shipped", language, name=key, file=shipped.file))
        return
    [source] = found
    media = message_media(source)
    assert media is not None
    kept = sent_file(source, media.kind)
    assert kept is not None  # what message_media found
    if not await library.register(bot.id, key, media.kind, kept, message.from_user.id):
        await message.answer(t("admin.media.shipped", language, name=key, file=key))
        return
    await write_audit(pool, f"admin:{message.from_user.id}", "register media", f"media:{key}", None,
                      {"kind": media.kind, "size_bytes": kept.size_bytes})  # fmt: skip
    size = f"{(kept.size_bytes or 0) / 1024:,.0f} KB"
    await message.answer(t("admin.media.saved", language, name=key, kind=t(f"admin.media.kind.{media.kind}", language),
                           size=size, snippet=html.escape(f"  - key: {key}\n    kind: {media.kind}")))  # fmt: skip


@router.message(F.photo | F.video | F.animation | F.voice | F.audio, FromAdmin())
async def hint(message: Message) -> None:
    """An admin's media without a command: what it can become (a fan's goes on to Diana's usual answer, unaudited:
    sending a photo is no attempt at anything)."""
    language = language_of(message.from_user.language_code if message.from_user else None)
    await message.answer(t("admin.media.hint", language))
