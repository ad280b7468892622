"""Media messages: photos, videos, animations, voice notes, audio and documents, albums, edits and copies.

Bot API: ``sendPhoto``, ``sendVideo``, ``sendAnimation``, ``sendVoice``, ``sendAudio``, ``sendDocument``,
``sendMediaGroup``, ``editMessageMedia``, ``editMessageCaption``, ``copyMessage``. A file is a multipart upload
(a part named like the parameter, or ``attach://<part>``, also inside InputMedia), or the ``file_id`` of a file
of the same kind (see :mod:`tools.emulator.files` for kinds, photo sizes, URLs and limits). Captions follow
:func:`~tools.emulator.markup.check_caption` (1024 characters after entity parsing); ``protect_content``,
``has_spoiler`` (photo, video, animation), ``show_caption_above_media``, inline ``reply_markup`` and
``reply_parameters`` (a message of the same chat) show on the returned Message as on Telegram's.

As Telegram does (and unlike its documentation's "2-10 items"), ``sendMediaGroup`` sends a single item as a
plain message without ``media_group_id``; it refuses none ("there are no messages to send") and more than 10.
It has no ``reply_markup``: one given is ignored, as the Bot API server ignores it. ``editMessageMedia`` can
also turn a text message into a media one (Bot API 9.x+); paid media, invoices and service messages can be
neither edited to other media nor copied. The bot may copy protected messages (Telegram lets bots copy them);
users cannot forward them.

Control API (bodies are JSON, or multipart with the file in a part named like ``type``):

- ``POST /control/users/{user_id}/media`` {"type": "photo" | "video" | "animation" | "voice" | "audio" |
  "document", "file_name"?, "content_base64", "mime_type"?, "caption"?, "width"?, "height"?, "duration"?,
  profile...}: the user sends a file in their private chat; result ``{"update_id", "message_id", "file_id"}``
  (for a photo, its largest size). Transcript ``user_<type>`` (a document: ``user_document`` as before).
- ``POST /control/users/{user_id}/albums`` {"items": [{"type", "file_name"?, "content_base64"}, ...], "caption"?,
  "caption_on"?, profile...}: the user sends an album (2-10 photos and videos, or audio, or documents): one message and
  one update per item sharing a ``media_group_id``, the caption on the first (or on item ``caption_on``); result ``{"update_ids", "message_ids",
  "media_group_id"}``. Transcript ``user_media_group``.
- ``POST /control/channels/{chat_id}/posts`` {"text"} or the media fields above: an administrator posts in the
  channel; the bot receives a ``channel_post``. Transcript ``admin_post``.
- ``POST /control/users/{user_id}/forward`` {"from_chat_id", "message_id"}: the user forwards a message (a channel
  post, or one of their private chat) to the bot; a protected one is refused as Telegram refuses it. Transcript
  ``user_forward``.

Transcript entries: ``bot_photo``, ``bot_video``, ``bot_animation``, ``bot_voice``, ``bot_audio`` (each
``message_id``, :func:`media_entry` fields, ``caption``, ``html``, ``entities``, ``buttons``, ``has_spoiler``,
``protected``, ``caption_above``, ``reply_to_message_id``, ``copy_of``), ``bot_document`` (its former shape plus
``protected``), ``bot_media_group`` (``media_group_id``, ``message_ids``, ``items``, ``protected``),
``bot_edit_media`` and ``bot_edit_caption``. A copied text message is a ``bot_message``.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from aiogram.types import (
    Animation,
    Audio,
    Chat,
    Document,
    Message,
    MessageOriginChannel,
    MessageOriginUser,
    TelegramObject,
    Update,
    User,
    Video,
    Voice,
)
from aiohttp import web

from tools.emulator.common import (
    BOT_ID,
    Handler,
    bool_param,
    bot_user,
    buttons_of,
    dump,
    int_param,
    json_body,
    ok_response,
    profile_of,
)
from tools.emulator.files import KINDS, WRONG_FILE, StoredFile, Upload, largest, photo_sizes, resolve
from tools.emulator.markup import BadRequest, check_caption, check_reply_markup

if TYPE_CHECKING:
    from tools.emulator.server import BotAPIEmulator, ChatLog

# Where _read_params leaves the multipart parts no parameter took, for "attach://<part>" inside JSON.
ATTACHMENTS: Final = "_attachments"
MAX_ALBUM: Final = 10
# The content fields a message can carry; a media edit replaces whichever is there.
MEDIA_FIELDS: Final = ("photo", "video", "animation", "voice", "audio", "document", "paid_media")
CONTENT_FIELDS: Final = (*MEDIA_FIELDS, "text", "entities", "link_preview_options", "caption", "caption_entities",
                         "has_media_spoiler", "show_caption_above_media")  # fmt: skip
# Photo, video and animation can carry a spoiler and a caption above the media.
SPOILER_KINDS: Final = frozenset({"photo", "video", "animation"})
# Albums: documents only with documents, audio only with audio; photos and videos mix.
ALONE_IN_ALBUMS: Final = frozenset({"document", "audio"})
NOT_MODIFIED: Final = ("Bad Request: message is not modified: specified new message content and reply markup are "
                       "exactly the same as a current content and reply markup of the message")  # fmt: skip


class Media:
    """Media messages for a :class:`BotAPIEmulator`: its Bot API methods and control routes."""

    def __init__(self, emulator: BotAPIEmulator) -> None:
        self.emulator = emulator

    @property
    def files(self) -> dict[str, StoredFile]:
        return self.emulator.files

    def methods(self) -> dict[str, Handler]:
        senders: dict[str, Handler] = {f"send{kind.capitalize()}": partial(self._send, kind) for kind in KINDS}
        return {**senders, "sendMediaGroup": self._send_media_group, "editMessageMedia": self._edit_message_media,
                "editMessageCaption": self._edit_message_caption, "copyMessage": self._copy_message}  # fmt: skip

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/control/users/{user_id}/media", self._control_user_media)
        router.add_post("/control/users/{user_id}/albums", self._control_user_album)
        router.add_post("/control/channels/{chat_id}/posts", self._control_channel_post)
        router.add_post("/control/users/{user_id}/forward", self._control_forward)

    # The Bot API -----------------------------------------------------------------------------------------

    async def _send(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        chat = self.emulator.chat_for_bot(params)
        if params.get(kind) is None or params.get(kind) == "":
            raise BadRequest(f"Bad Request: there is no {kind} in the request")
        caption, entities = check_caption(params.get("caption"), params.get("parse_mode"),
                                          params.get("caption_entities"))  # fmt: skip
        markup = check_reply_markup(params.get("reply_markup"))
        reply_to = self.replied(chat, params)
        # Stored only once the request is known good: a refused send keeps nothing.
        stored = resolve(self.files, params[kind], kind, **probed(params))
        message = self.emulator.new_bot_message(chat)
        message[kind] = self.content(kind, stored, params)
        _decorate(message, kind, caption, entities, spoiler=bool_param(params, "has_spoiler"),
                  above=bool_param(params, "show_caption_above_media"))  # fmt: skip
        finish_send(message, params, markup, reply_to)
        chat.messages[message["message_id"]] = message
        await self.record(chat, message, params)
        return message

    async def _send_media_group(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        chat = self.emulator.chat_for_bot(params)
        media = params.get("media")
        if media is None or media == "":
            raise BadRequest('Bad Request: parameter "media" is required')
        if not isinstance(media, list):
            raise BadRequest("Bad Request: expected an Array of InputMedia")
        items = [self.input_media(item, params, album=True) for item in media]
        if not items:
            raise BadRequest("Bad Request: there are no messages to send")
        if len(items) > MAX_ALBUM:
            raise BadRequest("Bad Request: too many messages to send as an album")
        kinds = {item["kind"] for item in items}
        alone = sorted(kinds & ALONE_IN_ALBUMS)
        if len(kinds) > 1 and alone:
            raise BadRequest(f"Bad Request: {alone[0]} can't be mixed with other media types")
        reply_to = self.replied(chat, params)
        stored = [resolve(self.files, item["media"], item["kind"], **item["probe"]) for item in items]
        group_id = str(secrets.randbelow(9 * 10**17) + 10**17) if len(items) > 1 else None
        messages = []
        for item, file in zip(items, stored, strict=True):
            message = self.emulator.new_bot_message(chat)
            message[item["kind"]] = self.content(item["kind"], file, item["fields"])
            _decorate(message, item["kind"], item["caption"], item["entities"], spoiler=item["spoiler"],
                      above=item["above"])  # fmt: skip
            if group_id:
                message["media_group_id"] = group_id
            finish_send(message, params, None, reply_to)
            chat.messages[message["message_id"]] = message
            messages.append(message)
        await self.emulator.append(chat, "bot_media_group", {
            "media_group_id": group_id, "message_ids": [m["message_id"] for m in messages],
            "items": [{"message_id": m["message_id"], **media_entry(self.files, m), "caption": m.get("caption"),
                       "html": item["html"], "entities": m.get("caption_entities", []),
                       "has_spoiler": bool(m.get("has_media_spoiler"))} for m, item in zip(messages, items, strict=True)],
            "protected": bool_param(params, "protect_content"),
            "reply_to_message_id": reply_to["message_id"] if reply_to else None})  # fmt: skip
        return messages

    async def _edit_message_caption(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, message = self.emulator._message_for_bot(params, "message to edit not found")
        if not sent_by_bot(message):
            raise BadRequest("Bad Request: message can't be edited")
        if not any(key in message for key in MEDIA_FIELDS):
            raise BadRequest("Bad Request: there is no caption in the message to edit")
        caption, entities = check_caption(params.get("caption"), params.get("parse_mode"),
                                          params.get("caption_entities"))  # fmt: skip
        markup = _inline(check_reply_markup(params.get("reply_markup")))
        above = bool_param(params, "show_caption_above_media")
        before = (message.get("caption"), message.get("caption_entities", []), message.get("reply_markup"),
                  bool(message.get("show_caption_above_media")))  # fmt: skip
        if before == (caption, entities, markup, above):
            raise BadRequest(NOT_MODIFIED)
        for key in ("caption", "caption_entities", "show_caption_above_media", "reply_markup"):
            message.pop(key, None)
        _decorate(message, _kind_of(message), caption, entities, spoiler=bool(message.get("has_media_spoiler")),
                  above=above)  # fmt: skip
        if markup:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        await self.emulator.append(chat, "bot_edit_caption", {
            "message_id": message["message_id"], "caption": message.get("caption"), "html": sent_html(params, "caption"),
            "entities": message.get("caption_entities", []), "buttons": buttons_of(message),
            "caption_above": above})  # fmt: skip
        return message

    async def _edit_message_media(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, message = self.emulator._message_for_bot(params, "message to edit not found")
        if not sent_by_bot(message):
            raise BadRequest("Bad Request: message can't be edited")
        media = params.get("media")
        if media is None or media == "":
            raise BadRequest('Bad Request: parameter "media" is required')
        item = self.input_media(media, params, album=False)
        markup = _inline(check_reply_markup(params.get("reply_markup")))
        current = _kind_of(message)
        # Paid media, invoices and service messages hold no replaceable media; text may become media.
        if current == "paid_media" or (current is None and "text" not in message):
            raise BadRequest("Bad Request: message can't be edited")
        if message.get("media_group_id") and not _fits_album(current, item["kind"]):
            raise BadRequest("Bad Request: can't use the media of the specified type in the album")
        stored = resolve(self.files, item["media"], item["kind"], **item["probe"])
        before = media_entry(self.files, message).get("file_unique_id")
        after = (largest(self.files, stored) if stored.kind == "photo" else stored).file_unique_id
        unchanged = (message.get("caption"), message.get("caption_entities", []),
                     bool(message.get("has_media_spoiler")), message.get("reply_markup"))  # fmt: skip
        if before == after and unchanged == (item["caption"], item["entities"], item["spoiler"], markup):
            raise BadRequest(NOT_MODIFIED)
        for key in (*CONTENT_FIELDS, "reply_markup"):
            message.pop(key, None)
        message[item["kind"]] = self.content(item["kind"], stored, item["fields"])
        _decorate(message, item["kind"], item["caption"], item["entities"], spoiler=item["spoiler"],
                  above=item["above"])  # fmt: skip
        if markup:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        await self.emulator.append(chat, "bot_edit_media", {
            "message_id": message["message_id"], **media_entry(self.files, message), "caption": message.get("caption"),
            "html": item["html"], "entities": message.get("caption_entities", []), "buttons": buttons_of(message),
            "has_spoiler": item["spoiler"], "caption_above": item["above"]})  # fmt: skip
        return message

    async def _copy_message(self, params: dict[str, Any]) -> dict[str, int]:
        target = self.emulator.chat_for_bot(params)
        if params.get("from_chat_id") in (None, ""):
            raise BadRequest('Bad Request: parameter "from_chat_id" is required')
        source_chat = self.emulator.chats.get(self.emulator.chat_id_of({"chat_id": params["from_chat_id"]}))
        if source_chat is None:
            raise BadRequest("Bad Request: chat not found")
        source = source_chat.messages.get(int_param(params, "message_id", 0))
        if source is None:
            raise BadRequest("Bad Request: message to copy not found")
        kind = _kind_of(source)
        if kind == "paid_media" or (kind is None and "text" not in source):
            raise BadRequest("Bad Request: message can't be copied")
        caption: str | None = source.get("caption")
        entities: list[dict[str, Any]] = source.get("caption_entities", [])
        if "caption" in params:
            caption, entities = check_caption(params.get("caption"), params.get("parse_mode"),
                                              params.get("caption_entities"))  # fmt: skip
        markup = check_reply_markup(params.get("reply_markup"))
        reply_to = self.replied(target, params)
        message = self.emulator.new_bot_message(target)
        if kind is None:
            message["text"] = source["text"]
            if source.get("entities"):
                message["entities"] = source["entities"]
        else:
            message[kind] = source[kind]
            _decorate(message, kind, caption, entities, spoiler=bool(source.get("has_media_spoiler")),
                      above=bool_param(params, "show_caption_above_media"))  # fmt: skip
        finish_send(message, params, markup, reply_to)
        target.messages[message["message_id"]] = message
        if kind is None:
            await self.emulator._record(target, "bot_message", message, params)
        else:
            await self.record(target, message, params, copy_of={"chat_id": source_chat.chat["id"],
                                                                "message_id": source["message_id"]})  # fmt: skip
        return {"message_id": message["message_id"]}

    # Shared by the methods ----------------------------------------------------------------------------

    def input_media(self, item: Any, params: dict[str, Any], *, album: bool) -> dict[str, Any]:
        """One InputMedia, checked as the Bot API reads it; its file stays unresolved (an upload or a file_id)."""
        prefix = "Bad Request: can't parse InputMedia: "
        if not isinstance(item, dict):
            raise BadRequest(prefix + "expected an Object")
        kind = item.get("type")
        if not isinstance(kind, str) or not kind:
            raise BadRequest(prefix + 'Field "type" must be of type String')
        if kind not in KINDS or kind == "voice":
            raise BadRequest(prefix + f'type "{kind}" is unsupported')
        if album and kind == "animation":
            raise BadRequest(prefix + 'type "animation" can\'t be used in sendMediaGroup')
        value = self.attached(item.get("media"), params)
        if value is None:
            raise BadRequest(prefix + "media not found")
        caption, entities = check_caption(item.get("caption"), item.get("parse_mode"), item.get("caption_entities"))
        return {"kind": kind, "media": value, "caption": caption, "entities": entities, "fields": item,
                "html": sent_html(item, "caption"), "spoiler": kind in SPOILER_KINDS and item.get("has_spoiler") is True,
                "above": kind in SPOILER_KINDS and item.get("show_caption_above_media") is True,
                "probe": probed(item)}  # fmt: skip

    @staticmethod
    def attached(value: Any, params: dict[str, Any]) -> Any:
        """An InputMedia's file: the upload behind ``attach://<part>``, else the value (a file_id) or None."""
        if isinstance(value, str) and value.startswith("attach://"):
            upload = params.get(ATTACHMENTS, {}).get(value.removeprefix("attach://"))
            if upload is None:
                raise BadRequest(WRONG_FILE)
            return upload
        return value or None

    def replied(self, chat: ChatLog, params: dict[str, Any]) -> dict[str, Any] | None:
        """The message a send replies to (``reply_parameters`` or the older ``reply_to_message_id``), as
        ``reply_to_message`` shows it; only messages of the same chat."""
        reply = params.get("reply_parameters")
        if reply is None and params.get("reply_to_message_id"):
            reply = {"message_id": params["reply_to_message_id"],
                     "allow_sending_without_reply": bool_param(params, "allow_sending_without_reply")}  # fmt: skip
        if not reply:
            return None
        if not isinstance(reply, dict):
            raise BadRequest("Bad Request: can't parse reply parameters JSON object")
        replied = chat.messages.get(int_param(reply, "message_id", 0))
        if replied is None:
            if reply.get("allow_sending_without_reply") is True:
                return None
            raise BadRequest("Bad Request: message to be replied not found")
        return {key: value for key, value in replied.items() if key != "reply_to_message"}

    def content(self, kind: str, stored: StoredFile, fields: dict[str, Any]) -> Any:
        """The Message field for a file of ``kind``: a list of PhotoSize, or a Video, Animation, Voice..."""
        if kind == "photo":
            return photo_sizes(self.files, stored)
        fields_of: dict[str, Any] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                                     "mime_type": stored.mime_type, "file_size": len(stored.content)}  # fmt: skip
        if kind in {"video", "animation"}:
            fields_of |= {"width": stored.width, "height": stored.height, "duration": stored.duration}
        if kind in {"voice", "audio"}:
            fields_of["duration"] = stored.duration
        if kind != "voice":
            fields_of["file_name"] = stored.file_name
        if kind == "audio":
            fields_of |= {"performer": _text(fields.get("performer")), "title": _text(fields.get("title"))}
        models: dict[str, type[TelegramObject]] = {
            "video": Video,
            "animation": Animation,
            "voice": Voice,
            "audio": Audio,
        }
        model = models.get(kind, Document)
        return dump(model.model_validate(fields_of))

    async def record(self, chat: ChatLog, message: dict[str, Any], params: dict[str, Any],
                     copy_of: dict[str, int] | None = None) -> None:  # fmt: skip
        """A media message by the bot in the transcript: ``bot_<kind>`` (a document keeps its old shape)."""
        kind = _kind_of(message) or "document"
        protected = bool(message.get("has_protected_content"))
        if kind == "document":
            stored = self.files[message["document"]["file_id"]]
            # The product sends small JSON files: a test reads them as text, without a download.
            try:
                text: str | None = stored.content.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            await self.emulator.append(chat, "bot_document", {
                "message_id": message["message_id"], "file_id": stored.file_id, "file_name": stored.file_name,
                "mime_type": stored.mime_type, "file_size": len(stored.content), "document_text": text,
                "caption": message.get("caption"), "html": sent_html(params, "caption"),
                "entities": message.get("caption_entities", []), "buttons": buttons_of(message),
                "protected": protected})  # fmt: skip
            return
        await self.emulator.append(chat, f"bot_{kind}", {
            "message_id": message["message_id"], **media_entry(self.files, message), "caption": message.get("caption"),
            "html": sent_html(params, "caption"), "entities": message.get("caption_entities", []),
            "buttons": buttons_of(message), "has_spoiler": bool(message.get("has_media_spoiler")),
            "protected": protected, "caption_above": bool(message.get("show_caption_above_media")),
            "reply_to_message_id": message.get("reply_to_message", {}).get("message_id"),
            "copy_of": copy_of})  # fmt: skip

    # Users and administrators acting ------------------------------------------------------------------

    async def user_sends_media(self, user_id: int, kind: str, upload: Upload, *, caption: str | None = None,
                               probe: dict[str, int] | None = None, **profile: Any) -> dict[str, Any]:  # fmt: skip
        """A user sends a file of ``kind`` to the bot in their private chat; returns update, message and file ids."""
        if kind == "document":
            # Imported here: documents and media are parts the server module registers while it is imported.
            from tools.emulator.documents import Documents

            return await Documents(self.emulator).user_sends_document(
                user_id, file_name=upload.file_name, content=upload.content, mime_type=upload.content_type or None,
                caption=caption, **profile)  # fmt: skip
        if kind not in KINDS:
            raise BadRequest(f'Bad Request: type "{kind}" is unsupported')
        stored = resolve(self.files, upload, kind, **(probe or {}))
        user = self.emulator.user(user_id, profile)
        self.emulator.blocked.discard(user_id)
        chat = self.emulator.private_chat(user)
        message = self._incoming(chat, kind, stored, caption, from_user=user)
        await self.emulator.append(chat, f"user_{kind}", {"message_id": message["message_id"],
                                                           **media_entry(self.files, message), "caption": caption})  # fmt: skip
        update = await self.emulator.enqueue(lambda update_id: Update(update_id=update_id,
                                                                      message=Message.model_validate(message)))  # fmt: skip
        return {**update, "message_id": message["message_id"], "file_id": media_entry(self.files, message)["file_id"]}

    async def user_sends_album(self, user_id: int, items: list[tuple[str, Upload]], *, caption: str | None = None,
                               caption_on: int = 0, **profile: Any) -> dict[str, Any]:  # fmt: skip
        """A user sends an album (2-10 photos and videos, or audio, or documents) to the bot: one message and one
        update per item, sharing a ``media_group_id``, the caption on the first (or item ``caption_on``: a client may
        caption another), as Telegram delivers it."""
        if not 2 <= len(items) <= MAX_ALBUM:
            raise BadRequest("Bad Request: wrong number of media in the album")
        kinds = {kind for kind, _ in items}
        if kinds - set(KINDS) or kinds & {"voice", "animation"} or (len(kinds) > 1 and not kinds <= {"photo", "video"}):
            raise BadRequest("Bad Request: these media can't be sent together in an album")
        stored = [resolve(self.files, upload, kind) for kind, upload in items]
        user = self.emulator.user(user_id, profile)
        self.emulator.blocked.discard(user_id)
        chat = self.emulator.private_chat(user)
        group_id = str(secrets.randbelow(9 * 10**17) + 10**17)
        messages = []
        for index, ((kind, _), file) in enumerate(zip(items, stored, strict=True)):
            message = self._incoming(chat, kind, file, caption if index == caption_on else None, from_user=user)
            message["media_group_id"] = group_id
            messages.append(message)
        await self.emulator.append(chat, "user_media_group", {
            "media_group_id": group_id, "message_ids": [m["message_id"] for m in messages],
            "items": [{"message_id": m["message_id"], **media_entry(self.files, m)} for m in messages],
            "caption": caption})  # fmt: skip
        update_ids = []
        for message in messages:
            update = await self.emulator.enqueue(partial(_message_update, Message.model_validate(message)))
            update_ids.append(update["update_id"])
        return {
            "update_ids": update_ids,
            "message_ids": [m["message_id"] for m in messages],
            "media_group_id": group_id,
        }

    async def admin_posts(self, chat_id: int, *, text: str | None = None, kind: str | None = None,
                          upload: Upload | None = None, caption: str | None = None,
                          probe: dict[str, int] | None = None) -> dict[str, Any]:  # fmt: skip
        """An administrator posts in a channel (text, or a file of ``kind``); the bot receives a ``channel_post``."""
        chat = self.emulator.chats.get(chat_id)
        if chat is None or not chat.is_channel:
            raise BadRequest("Bad Request: chat not found")
        if upload is not None and kind is not None:
            if kind not in KINDS:
                raise BadRequest(f'Bad Request: type "{kind}" is unsupported')
            message = self._incoming(chat, kind, resolve(self.files, upload, kind, **(probe or {})), caption)
        elif text:
            message = self._incoming(chat, None, None, None, text=text)
        else:
            raise BadRequest("Bad Request: message text is empty")
        entry = {"message_id": message["message_id"], "text": message.get("text"), "caption": message.get("caption"),
                 **(media_entry(self.files, message) if kind else {})}  # fmt: skip
        await self.emulator.append(chat, "admin_post", entry)
        update = await self.emulator.enqueue(lambda update_id: Update(update_id=update_id,
                                                                      channel_post=Message.model_validate(message)))  # fmt: skip
        result = {**update, "message_id": message["message_id"]}
        if kind:
            result["file_id"] = media_entry(self.files, message)["file_id"]
        return result

    async def user_forwards(
        self, user_id: int, *, from_chat_id: int, message_id: int, **profile: Any
    ) -> dict[str, Any]:
        """A user forwards a message they can see to the bot; a protected one is refused, as the apps refuse it."""
        source_chat, source = self.emulator.message_for_user(user_id, from_chat_id, message_id,
                                                             "message to forward not found")  # fmt: skip
        if source.get("has_protected_content"):
            raise BadRequest("Bad Request: message has protected content and can't be forwarded")
        kind = _kind_of(source)
        if kind is None and "text" not in source:
            raise BadRequest("Bad Request: message can't be forwarded")
        user = self.emulator.user(user_id, profile)
        chat = self.emulator.private_chat(user)
        sent = datetime.fromtimestamp(int(source.get("date", time.time())), UTC)
        origin: MessageOriginChannel | MessageOriginUser
        if source_chat.is_channel:
            origin = MessageOriginChannel(date=sent, chat=Chat.model_validate(source_chat.chat),
                                          message_id=message_id)  # fmt: skip
        else:
            author = bot_user() if sent_by_bot(source) else User.model_validate(user)
            origin = MessageOriginUser(date=sent, sender_user=author)
        message = self._incoming(chat, None, None, None, from_user=user)
        for key in CONTENT_FIELDS:
            if key in source:
                message[key] = source[key]
        message["forward_origin"] = dump(origin)
        await self.emulator.append(chat, "user_forward", {
            "message_id": message["message_id"], "from_chat_id": from_chat_id, "forwarded_message_id": message_id,
            "text": message.get("text"), "caption": message.get("caption"),
            **(media_entry(self.files, message) if kind else {})})  # fmt: skip
        update = await self.emulator.enqueue(lambda update_id: Update(update_id=update_id,
                                                                      message=Message.model_validate(message)))  # fmt: skip
        return {**update, "message_id": message["message_id"]}

    def _incoming(self, chat: ChatLog, kind: str | None, stored: StoredFile | None, caption: str | None, *,
                  from_user: dict[str, Any] | None = None, text: str | None = None) -> dict[str, Any]:  # fmt: skip
        """A message someone other than the bot writes: a user in their private chat, or an admin as the channel."""
        as_chat = Chat.model_validate(chat.chat)
        message = dump(Message(message_id=chat.next_message_id, date=datetime.now(UTC), chat=as_chat,
                               from_user=User.model_validate(from_user) if from_user else None,
                               sender_chat=as_chat if chat.is_channel else None, text=text))  # fmt: skip
        chat.next_message_id += 1
        if kind is not None and stored is not None:
            message[kind] = self.content(kind, stored, {})
            if caption:
                message["caption"] = caption
        chat.messages[message["message_id"]] = message
        return message

    # Control API ---------------------------------------------------------------------------------------

    async def _control_user_media(self, request: web.Request) -> web.Response:
        fields, kind, upload = await _media_request(request)
        if kind is None or upload is None:
            raise BadRequest("Bad Request: type and a file are required")
        result = await self.user_sends_media(int(request.match_info["user_id"]), kind, upload,
                                             caption=_text(fields.get("caption")), probe=probed(fields),
                                             **profile_of(fields))  # fmt: skip
        return ok_response(result)

    async def _control_user_album(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        items: list[tuple[str, Upload]] = []
        for index, item in enumerate(body.get("items") or []):
            try:
                content = base64.b64decode(str(item["content_base64"]), validate=True)
            except (KeyError, TypeError, binascii.Error, ValueError):
                raise BadRequest(f"Bad Request: item {index} needs content_base64") from None
            kind = str(item.get("type") or "")
            items.append((kind, Upload(str(item.get("file_name") or f"{kind}{index}"), "", content)))
        result = await self.user_sends_album(int(request.match_info["user_id"]), items,
                                             caption=_text(body.get("caption")),
                                             caption_on=int(body.get("caption_on") or 0), **profile_of(body))  # fmt: skip
        return ok_response(result)

    async def _control_channel_post(self, request: web.Request) -> web.Response:
        fields, kind, upload = await _media_request(request)
        result = await self.admin_posts(int(request.match_info["chat_id"]), text=_text(fields.get("text")), kind=kind,
                                        upload=upload, caption=_text(fields.get("caption")),
                                        probe=probed(fields))  # fmt: skip
        return ok_response(result)

    async def _control_forward(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        result = await self.user_forwards(int(request.match_info["user_id"]), from_chat_id=int(body["from_chat_id"]),
                                          message_id=int(body["message_id"]), **profile_of(body))  # fmt: skip
        return ok_response(result)


def _message_update(message: Message, update_id: int) -> Update:
    return Update(update_id=update_id, message=message)


def media_entry(files: dict[str, StoredFile], message: dict[str, Any]) -> dict[str, Any]:
    """A message's media as a transcript shows it: ``type``, ``file_id``, ``file_unique_id``, ``file_name``,
    ``mime_type``, ``file_size``, ``width``, ``height``, ``duration`` (None where the kind has none; a photo:
    its largest size)."""
    kind = _kind_of(message)
    if kind is None or kind == "paid_media":
        return {}
    if kind == "photo":
        media = message["photo"][-1]
    else:
        media = message[kind]
    return {"type": kind, "file_id": media["file_id"], "file_unique_id": media["file_unique_id"],
            "file_name": media.get("file_name"), "mime_type": media.get("mime_type"),
            "file_size": media.get("file_size"), "width": media.get("width"), "height": media.get("height"),
            "duration": media.get("duration")}  # fmt: skip


def sent_by_bot(message: dict[str, Any]) -> bool:
    """The bot may edit its own messages; in a channel it posts as the channel, so every post is its own."""
    return bool(message.get("from", {}).get("id") == BOT_ID or message["chat"]["type"] == "channel")


def _kind_of(message: dict[str, Any]) -> str | None:
    return next((key for key in MEDIA_FIELDS if key in message), None)


def _fits_album(current: str | None, new: str) -> bool:
    if current in ALONE_IN_ALBUMS or new in ALONE_IN_ALBUMS:
        return current == new
    return new in {"photo", "video"}


def _decorate(message: dict[str, Any], kind: str | None, caption: str | None, entities: list[dict[str, Any]], *,
              spoiler: bool, above: bool) -> None:  # fmt: skip
    """Caption, entities, spoiler and caption position, where the kind has them."""
    if caption:
        message["caption"] = caption
    if entities:
        message["caption_entities"] = entities
    if kind in SPOILER_KINDS and spoiler:
        message["has_media_spoiler"] = True
    if (kind in SPOILER_KINDS or kind == "paid_media") and above and caption:
        message["show_caption_above_media"] = True


def finish_send(message: dict[str, Any], params: dict[str, Any], markup: dict[str, Any] | None,
            reply_to: dict[str, Any] | None) -> None:  # fmt: skip
    """What every send shares: the replied message, protection and an inline keyboard."""
    if reply_to:
        message["reply_to_message"] = reply_to
    if bool_param(params, "protect_content"):
        message["has_protected_content"] = True
    if markup and "inline_keyboard" in markup:
        message["reply_markup"] = markup


def _inline(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """Edits take an inline keyboard only; anything else is no keyboard."""
    return markup if markup and "inline_keyboard" in markup else None


def sent_html(params: dict[str, Any], key: str) -> str | None:
    """What the bot sent, when it sent HTML (the transcript's ``html``)."""
    return str(params[key]) if (params.get("parse_mode") or "").upper() == "HTML" and params.get(key) else None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def probed(fields: dict[str, Any]) -> dict[str, int]:
    """Width, height and duration as the request gives them (Telegram would read them from the file)."""
    probe = {}
    for key in ("width", "height", "duration"):
        if fields.get(key) not in (None, ""):
            value = int_param(fields, key, 0)
            probe[key] = max(value, 0)
    return probe


async def _media_request(request: web.Request) -> tuple[dict[str, Any], str | None, Upload | None]:
    """A control request's fields, media type and file: multipart (the file in a part named like the type, or
    ``file``) or JSON with ``content_base64``."""
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        fields: dict[str, Any] = {key: value for key, value in form.items() if isinstance(value, str)}
        kind = _text(fields.get("type"))
        part = form.get(kind or "file") if kind else form.get("file")
        if part is None:
            part = form.get("file")
        if not isinstance(part, web.FileField):
            return fields, kind, None
        name = str(fields.get("file_name") or part.filename or kind or "file")
        return fields, kind, Upload(name, str(fields.get("mime_type") or part.content_type or ""), part.file.read())
    fields = await json_body(request)
    kind = _text(fields.get("type"))
    if fields.get("content_base64") in (None, ""):
        return fields, kind, None
    try:
        content = base64.b64decode(str(fields["content_base64"]), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("Bad Request: content_base64 is not valid base64") from None
    default_name = {"photo": "photo.jpg", "video": "video.mp4", "animation": "animation.mp4", "voice": "voice.ogg",
                    "audio": "audio.mp3"}.get(kind or "", "file")  # fmt: skip
    name = str(fields.get("file_name") or default_name)
    return fields, kind, Upload(name, str(fields.get("mime_type") or ""), content)
