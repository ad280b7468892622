"""Media a user attaches to a command: one photo, video, animation, voice note, audio or document, or an album.

Telegram delivers an album as one message per item, each its own update, with a shared ``media_group_id`` (the
caption, and so a command, on one of them: the first, usually). ``AlbumCollector`` gathers them: the first item of a
group waits until no new item has come for ``ALBUM_SETTLE`` seconds (Telegram's clients send an album's items
together), then the album goes on as one update (the captioned item's) with the whole album as ``album``; the other
items are taken as handled. It runs before the user's updates are
serialised, or the first item would hold the lock its siblings wait on. Albums seen lately are also kept by group id
(``RecentAlbums``), so a command sent as a reply to any item of an album finds all of it.

A bot stopped while it gathers an album takes the first item again on restart (its update was not confirmed) but not
the others: the command then sees only that item. One bot process polls; several webhook processes would each see
part of an album.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from typing import Any, Final

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import NextMiddlewareType
from aiogram.types import Message, TelegramObject, Update

from adapters.screens import media_kind, sent_file
from workflows.broadcast_contracts import MAX_ALBUM, PostMedia

# Seconds without a new item after which an album is taken as whole.
ALBUM_SETTLE: Final = 0.8
# Albums remembered for replies.
RECENT_ALBUMS: Final = 200


def message_media(message: Message) -> PostMedia | None:
    """What a message shows, as the bot can send it again (a photo's largest size)."""
    kind = media_kind(message)
    if kind is None or kind == "text":
        return None
    held = sent_file(message, kind)
    return PostMedia(kind=kind, file_id=held.file_id) if held is not None else None


class RecentAlbums:
    """The latest albums by ``media_group_id``, each as its items in order; one still being gathered is waited for."""

    def __init__(self, limit: int = RECENT_ALBUMS) -> None:
        self._albums: OrderedDict[str, list[Message]] = OrderedDict()
        self._gathering: dict[str, asyncio.Event] = {}
        self._limit = limit

    def begin(self, group_id: str) -> None:
        self._gathering.setdefault(group_id, asyncio.Event())

    def keep(self, group_id: str, items: list[Message]) -> None:
        self._albums[group_id] = items
        self._albums.move_to_end(group_id)
        while len(self._albums) > self._limit:
            self._albums.popitem(last=False)
        if (gathered := self._gathering.pop(group_id, None)) is not None:
            gathered.set()

    async def get(self, group_id: str) -> list[Message] | None:
        """The album, once gathered (a command answering it right after it was sent waits for its last items)."""
        gathering = self._gathering.get(group_id)
        if gathering is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(gathering.wait(), ALBUM_SETTLE * 4)
        return self._albums.get(group_id)


class AlbumCollector(BaseMiddleware):
    """Gathers the items of an album into the first one's handling (``data["album"]``); see the module docstring."""

    def __init__(self, recent: RecentAlbums) -> None:
        self.recent = recent
        self._gathering: dict[str, list[Update]] = {}
        self._arrived: dict[str, asyncio.Event] = {}

    async def __call__(self, handler: NextMiddlewareType[TelegramObject], event: TelegramObject,
                       data: dict[str, Any]) -> Any:  # fmt: skip
        message = event.message if isinstance(event, Update) else None
        group_id = message.media_group_id if message is not None else None
        if message is None or group_id is None or not isinstance(event, Update):
            return await handler(event, data)
        key = f"{message.chat.id}:{group_id}"
        if key in self._gathering:
            self._gathering[key].append(event)
            self._arrived[key].set()
            return None  # handled as part of the first item's album
        updates = self._gathering[key] = [event]
        self.recent.begin(group_id)
        arrived = self._arrived[key] = asyncio.Event()
        try:
            while True:
                arrived.clear()
                try:
                    await asyncio.wait_for(arrived.wait(), ALBUM_SETTLE)
                except TimeoutError:
                    break
        finally:
            del self._gathering[key], self._arrived[key]
        updates.sort(key=lambda update: update.message.message_id if update.message else 0)
        album = [update.message for update in updates if update.message is not None][:MAX_ALBUM]
        self.recent.keep(group_id, album)
        data["album"] = album
        # The command is the caption, on whichever item carries it.
        leading = next((update for update in updates if update.message and update.message.caption), event)
        return await handler(leading, data)


async def media_messages(message: Message, album: list[Message] | None, recent: RecentAlbums) -> list[Message]:
    """The messages with the media sent with a command (it, or its album), else the one it replies to (or that one's
    album)."""
    if album and any(message_media(item) for item in album):
        return [item for item in album if message_media(item) is not None]
    if message_media(message) is not None:
        return [message]
    replied = message.reply_to_message
    if replied is None:
        return []
    if replied.media_group_id is not None and (items := await recent.get(replied.media_group_id)):
        return [item for item in items if message_media(item) is not None]
    return [replied] if message_media(replied) is not None else []


async def attached_media(message: Message, album: list[Message] | None, recent: RecentAlbums) -> list[PostMedia]:
    """The media sent with a command, as the bot can send it again (see ``media_messages``)."""
    return [media for item in await media_messages(message, album, recent)
            if (media := message_media(item)) is not None]  # fmt: skip
