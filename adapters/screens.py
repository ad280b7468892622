"""Journey screens as Telegram messages: text alone, or media with the text as its caption or after it.

A screen's text goes under its media as the caption when it fits Telegram's 1,024 characters; a longer text, or an
album (which cannot carry buttons), is followed by a message with the text, so the buttons are always under the
last message of the screen. A screen replaces the pressed one in place where Telegram allows it: text for text, and
``editMessageMedia`` puts a photo, video, animation, audio or document in place of one of those or of a text.
Otherwise (media to text, a voice note, an album, a text too long for a caption) the screen is sent anew and the
pressed message deleted, as an edit would have replaced it (see ``ScreenSender.replace``).
"""

from __future__ import annotations

import contextlib
import html
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, Literal
from urllib.parse import urlencode

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import (
    FSInputFile,
    InaccessibleMessage,
    InlineKeyboardMarkup,
    InputMediaAnimation,
    InputMediaAudio,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    InputPaidMediaPhoto,
    InputPaidMediaVideo,
    Message,
)
from aiogram.types.input_paid_media_union import InputPaidMediaUnion

from adapters.media_library import MediaLibrary, SentFile
from adapters.texts import render, visible_length
from workflows.broadcast_contracts import PostMedia, telegram_length
from workflows.contracts import MAX_CAPTION_LENGTH, MEDIA_KINDS, MediaKind, Screen, ScreenMedia
from workflows.referrals import LINK_PREFIX, SHARE

log = logging.getLogger("diana.screens")

# What editMessageMedia can put in place of what, and what it can add media to (a voice note is neither).
EDITABLE: Final = frozenset({"photo", "video", "animation", "audio", "document"})
MEDIA_CAN_REPLACE: Final = EDITABLE | {"text"}
# Telegram's answers for a file_id it does not know (another bot's, or one it dropped).
_STALE_FILE: Final = ("wrong file identifier", "wrong remote file identifier", "file reference", "file_id")
_NOT_MODIFIED: Final = "message is not modified"
_EDIT_GONE: Final = "message to edit not found"
# The bot's own parse mode (HTML), as aiogram fills it in when a call leaves it out.
_HTML: Final = Default("parse_mode")

Reference = str | FSInputFile
InputMedia = InputMediaPhoto | InputMediaVideo | InputMediaAnimation | InputMediaAudio | InputMediaDocument


def _stale(error: TelegramBadRequest) -> bool:
    return any(sign in error.message.lower() for sign in _STALE_FILE)


def media_kind(message: Message) -> MediaKind | Literal["text"] | None:
    """What a message shows: a media kind, "text", or None (a sticker, a poll, ...)."""
    for kind in MEDIA_KINDS:
        if getattr(message, kind):
            # An animation arrives with its document too: it is an animation (before "document" in MEDIA_KINDS).
            return kind
    return "text" if message.text is not None else None


def sent_file(message: Message, kind: str) -> SentFile | None:
    """The file Telegram now holds for what ``message`` shows (the largest size of a photo)."""
    if kind == "photo":
        if not message.photo:
            return None
        largest = message.photo[-1]
        return SentFile(largest.file_id, largest.file_unique_id, largest.file_size)
    held = getattr(message, kind, None)
    if held is None:
        return None
    return SentFile(held.file_id, held.file_unique_id, held.file_size)


def input_media(kind: MediaKind, reference: Reference, caption: str | None, *, spoiler: bool = False) -> InputMedia:
    common: dict[str, Any] = {"media": reference, "caption": caption}
    if kind == "photo":
        return InputMediaPhoto(**common, has_spoiler=spoiler)
    if kind == "video":
        return InputMediaVideo(**common, has_spoiler=spoiler, supports_streaming=True)
    if kind == "animation":
        return InputMediaAnimation(**common, has_spoiler=spoiler)
    if kind == "audio":
        return InputMediaAudio(**common)
    return InputMediaDocument(**common)


def own_caption(item: ScreenMedia) -> str | None:
    """The media's own caption (content text: escaped, the bot speaks HTML)."""
    return html.escape(item.caption) if item.caption else None


def send_media(bot: Bot, chat_id: int, kind: str, reference: Reference, *, caption: str | None,
               markup: InlineKeyboardMarkup | None = None, protect_content: bool = True, spoiler: bool = False,
               parse_mode: str | Default | None = _HTML) -> Awaitable[Message]:  # fmt: skip
    """One media message of ``kind`` (its caption in the bot's HTML unless ``parse_mode`` says otherwise)."""
    common: dict[str, Any] = {"chat_id": chat_id, "caption": caption, "reply_markup": markup,
                              "protect_content": protect_content, "parse_mode": parse_mode}  # fmt: skip
    if kind == "photo":
        return bot.send_photo(photo=reference, has_spoiler=spoiler, **common)
    if kind == "video":
        return bot.send_video(video=reference, has_spoiler=spoiler, supports_streaming=True, **common)
    if kind == "animation":
        return bot.send_animation(animation=reference, has_spoiler=spoiler, **common)
    if kind == "voice":
        return bot.send_voice(voice=reference, **common)
    if kind == "audio":
        return bot.send_audio(audio=reference, **common)
    return bot.send_document(document=reference, **common)


# One message of a post (or an album): sent to a chat, it returns the message (an album's last).
PostPart = Callable[[Bot, int], Awaitable[Message]]


def post_parts(text: str, media: Sequence[PostMedia], *, markup: InlineKeyboardMarkup | None = None,
               protect_content: bool = True, star_count: int | None = None,
               payload: str | None = None) -> list[PostPart]:  # fmt: skip
    """An admin's post or broadcast as the messages it takes: their words as typed (plain text) under their media
    when they fit a caption, after it otherwise (and always after an album, which cannot carry buttons); ``markup``
    under the last. With ``star_count`` the photos and videos are paid media (unlocked for that many Stars; Telegram
    reports each purchase with ``payload``). A broadcast claims each part on its own, so none goes twice."""
    fits = telegram_length(text) <= MAX_CAPTION_LENGTH
    caption = (text or None) if fits else None
    parts: list[PostPart] = []
    if star_count is not None:
        paid: list[InputPaidMediaUnion] = [
            InputPaidMediaPhoto(media=item.file_id) if item.kind == "photo"
            else InputPaidMediaVideo(media=item.file_id, supports_streaming=True) for item in media
        ]  # fmt: skip

        async def sell(bot: Bot, chat_id: int) -> Message:
            return await bot.send_paid_media(chat_id, star_count, paid, caption=caption, parse_mode=None,
                                             payload=payload, protect_content=protect_content,
                                             reply_markup=markup if fits else None)  # fmt: skip

        parts.append(sell)
    elif len(media) == 1:
        [item] = media

        def single(bot: Bot, chat_id: int) -> Awaitable[Message]:
            return send_media(bot, chat_id, item.kind, item.file_id, caption=caption, protect_content=protect_content,
                              markup=markup if fits else None, parse_mode=None)  # fmt: skip

        parts.append(single)
    elif media:
        group = [input_media(item.kind, item.file_id, None) for item in media]

        async def album(bot: Bot, chat_id: int) -> Message:
            sent = await bot.send_media_group(chat_id, media=group,  # type: ignore[arg-type]
                                              protect_content=protect_content)  # fmt: skip
            return sent[-1]

        parts.append(album)
    if not media or not fits or (len(media) > 1 and star_count is None):

        def words(bot: Bot, chat_id: int) -> Awaitable[Message]:
            return bot.send_message(chat_id, text, parse_mode=None, reply_markup=markup,
                                    protect_content=protect_content)  # fmt: skip

        parts.append(words)
    return parts


async def send_post(bot: Bot, chat_id: int, text: str, media: Sequence[PostMedia], *,
                    markup: InlineKeyboardMarkup | None = None, protect_content: bool = True,
                    star_count: int | None = None, payload: str | None = None) -> Message:  # fmt: skip
    """Every part of a post (``post_parts``), one after the other; returns the last message (the one with ``markup``)."""
    sent: Message | None = None
    for part in post_parts(text, media, markup=markup, protect_content=protect_content, star_count=star_count,
                           payload=payload):  # fmt: skip
        sent = await part(bot, chat_id)
    assert sent is not None
    return sent


def invitation_link(username: str | None, code: str) -> str:
    return f"https://t.me/{username}?start={LINK_PREFIX}{code}"


async def invitation_links(bot: Bot, screen: Screen) -> Screen:
    """A screen with an invitation's share button (``share.<code>``, from the journey, which does not know the bot's
    name): its link in the text (``{link}``) and a button that shares it."""
    code = next((b.action.removeprefix(SHARE) for row in screen.buttons for b in row if b.action.startswith(SHARE)),
                None)  # fmt: skip
    if code is None:
        return screen
    link = invitation_link((await bot.me()).username, code)
    share = "https://t.me/share/url?" + urlencode({"url": link})
    buttons = [[b.model_copy(update={"action": share}) if b.action.startswith(SHARE) else b for b in row]
               for row in screen.buttons]  # fmt: skip
    return screen.model_copy(update={"params": {**screen.params, "link": link}, "buttons": buttons})


class ScreenSender:
    """Sends and replaces journey screens, media included; the only place that turns a ``Screen`` into messages."""

    def __init__(self, library: MediaLibrary, *, protect_content: bool = True) -> None:
        self.library = library
        self.protect_content = protect_content

    async def send(self, bot: Bot, chat_id: int, screen: Screen, language: str) -> Message:
        """The screen as new messages; returns the one with the buttons."""
        text, markup = render(await invitation_links(bot, screen), language)
        return await self._send(bot, chat_id, screen, text, markup)

    async def _send(self, bot: Bot, chat_id: int, screen: Screen, text: str,
                    markup: InlineKeyboardMarkup | None) -> Message:  # fmt: skip
        items = screen.media
        if len(items) == 1 and visible_length(text) <= MAX_CAPTION_LENGTH:
            shown = await self._send_one(bot, chat_id, items[0], text, markup)
            if shown is not None:
                return shown
        elif len(items) == 1:
            await self._send_one(bot, chat_id, items[0], own_caption(items[0]), None)
        elif items:
            await self._send_album(bot, chat_id, items)
        # Diana's words are protected like her media, so media edited into this message later stays protected.
        return await bot.send_message(chat_id, text, reply_markup=markup, protect_content=self.protect_content)

    async def replace(self, bot: Bot, message: Message | InaccessibleMessage, screen: Screen, language: str) -> None:
        """The screen in place of ``message`` (the pressed one): edited where Telegram allows, else sent anew.

        Sent anew, the new screen goes first, then the pressed message is deleted. A press delivered again
        (Telegram redelivers, and the journey answers it with the same screen) finds the pressed message gone and
        sends nothing a second time; one whose sending failed finds it still there, and sends it."""
        text, markup = render(await invitation_links(bot, screen), language)
        if isinstance(message, Message):
            if await self._edit(bot, message, screen, text, markup):
                return
            if not await self._still_there(message):
                return  # replaced already, by this very press
        await self._send(bot, message.chat.id, screen, text, markup)
        if isinstance(message, Message):
            await self._retire(message)

    async def _edit(self, bot: Bot, message: Message, screen: Screen, text: str,
                    markup: InlineKeyboardMarkup | None) -> bool:  # fmt: skip
        shown = media_kind(message)
        try:
            if not screen.media and shown == "text":
                await message.edit_text(text, reply_markup=markup)
                return True
            single = screen.media[0] if len(screen.media) == 1 else None
            if single is None or single.kind not in EDITABLE or shown not in MEDIA_CAN_REPLACE:
                return False
            if self.protect_content and not message.has_protected_content:
                return False  # an edit keeps the message's protection: media never goes into an unprotected one
            if visible_length(text) > MAX_CAPTION_LENGTH:
                return False
            edited = await self._with_file(
                bot,
                single,
                lambda reference: message.edit_media(
                    input_media(single.kind, reference, text, spoiler=single.spoiler), reply_markup=markup
                ),  # fmt: skip
            )
            return edited is not None
        except TelegramBadRequest as error:
            # A redelivered press redraws the same screen: Telegram refuses the identical edit, and that is fine.
            return _NOT_MODIFIED in error.message
        except TelegramAPIError:
            return False

    async def _still_there(self, message: Message) -> bool:
        """Whether the pressed message is still in the chat (not deleted by an earlier delivery of the press): asked
        by "editing" its buttons to what they are, which Telegram refuses as not modified, or as not found."""
        try:
            await message.edit_reply_markup(reply_markup=message.reply_markup)
        except TelegramBadRequest as error:
            return _EDIT_GONE not in error.message
        return True

    async def _retire(self, message: Message) -> None:
        """The replaced message goes, as an edit would have made it; one too old to delete loses its buttons."""
        try:
            await message.delete()
        except TelegramAPIError as error:
            log.info("could not delete replaced message %s: %s", message.message_id, error.message)
            if message.reply_markup is not None:
                with contextlib.suppress(TelegramAPIError):
                    await message.edit_reply_markup(reply_markup=None)

    async def _send_one(self, bot: Bot, chat_id: int, item: ScreenMedia, caption: str | None,
                        markup: InlineKeyboardMarkup | None) -> Message | None:  # fmt: skip
        def sending(reference: Reference) -> Awaitable[Message]:
            return send_media(bot, chat_id, item.kind, reference, caption=caption, markup=markup,
                              protect_content=self.protect_content, spoiler=item.spoiler)  # fmt: skip

        return await self._with_file(bot, item, sending)

    async def _with_file(self, bot: Bot, item: ScreenMedia,
                         call: Callable[[Reference], Awaitable[Message | bool]]) -> Message | None:  # fmt: skip
        """``call`` with the item's ``file_id``, or its upload (kept for next time); a ``file_id`` Telegram has
        dropped is forgotten and the file uploaded again. None: nothing to send (registered media Telegram lost).

        One upload of a file at a time: the screens that want it meanwhile (a crowd at the story's first photo after a
        deploy) wait for its ``file_id`` instead of uploading it again each."""
        for attempt in range(2):
            reference = await self._reference(bot, item)
            if reference is None:
                log.warning("media %s cannot be sent: no file, and Telegram knows no file_id for it", item.key)
                return None
            try:
                if isinstance(reference, str):
                    result = await call(reference)
                else:
                    async with self.library.uploading(bot.id, item.key):
                        # Uploaded by another screen while this one waited: sent by its file_id.
                        reference = await self._reference(bot, item) or reference
                        result = await call(reference)
                        if not isinstance(reference, str) and isinstance(result, Message):
                            if (held := sent_file(result, item.kind)) is not None:
                                await self.library.remember(bot.id, item, held)
            except TelegramBadRequest as error:
                if not (isinstance(reference, str) and _stale(error)):
                    raise
                log.warning("Telegram no longer knows media %s: %s", item.key, error.message)
                if attempt or self.library.path(item) is None:
                    return None
                await self.library.forget(bot.id, [item.key])
                continue
            return result if isinstance(result, Message) else None
        return None

    async def _reference(self, bot: Bot, item: ScreenMedia) -> Reference | None:
        known = await self.library.file_id(bot.id, item)
        if known is not None:
            return known
        path = self.library.path(item)
        return FSInputFile(path) if path is not None else None

    async def _send_album(self, bot: Bot, chat_id: int, items: list[ScreenMedia]) -> None:
        for attempt in range(2):
            references = [await self._reference(bot, item) for item in items]
            present = [(item, reference) for item, reference in zip(items, references, strict=True) if reference]
            if len(present) < 2:
                for item, _ in present:  # an album needs two: what is left goes alone
                    await self._send_one(bot, chat_id, item, own_caption(item), None)
                return
            group = [input_media(item.kind, reference, own_caption(item), spoiler=item.spoiler)
                     for item, reference in present]  # fmt: skip
            try:
                sent = await bot.send_media_group(chat_id, media=group,  # type: ignore[arg-type]
                                                  protect_content=self.protect_content)  # fmt: skip
            except TelegramBadRequest as error:
                if attempt or not _stale(error):
                    raise
                await self.library.forget(bot.id, [item.key for item, ref in present if isinstance(ref, str)])
                continue
            for (item, reference), message in zip(present, sent, strict=False):
                if not isinstance(reference, str) and (held := sent_file(message, item.kind)) is not None:
                    await self.library.remember(bot.id, item, held)
            return
