"""Users sending files: a document in the private chat, downloadable by the bot as any file.

The file is kept like one the bot uploaded, so ``getFile`` and ``/file/bot<token>/<file_path>`` serve it,
and the bot receives a message with ``document`` (and ``caption``, if given). The MIME type follows the
file name's extension, as Telegram's does.

Control API: ``POST /control/users/{user_id}/documents``, either JSON {"file_name", "content_base64",
"mime_type"?, "caption"?, profile...} or multipart with a file part ``document`` and the other fields as
form fields. Result ``{"update_id", "message_id", "file_id"}``. The private chat's transcript gets a
``user_document`` entry (``message_id``, ``file_name``, ``mime_type``, ``file_size``, ``file_id``, ``caption``).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiogram.types import Chat, Document, Message, Update, User
from aiohttp import web

from tools.emulator.common import Handler, json_body, ok_response, profile_of
from tools.emulator.files import Upload
from tools.emulator.markup import BadRequest

if TYPE_CHECKING:
    from tools.emulator.server import BotAPIEmulator


class Documents:
    """Documents sent by users to a :class:`BotAPIEmulator`: no Bot API methods of its own, one control route."""

    def __init__(self, emulator: BotAPIEmulator) -> None:
        self.emulator = emulator

    def methods(self) -> dict[str, Handler]:
        return {}

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/control/users/{user_id}/documents", self._control_send)

    async def user_sends_document(self, user_id: int, *, file_name: str, content: bytes, mime_type: str | None = None,
                                  caption: str | None = None, **profile: Any) -> dict[str, Any]:  # fmt: skip
        """A user sends a file to the bot in their private chat; returns the update, message and file ids."""
        if not file_name:
            raise BadRequest("Bad Request: file_name is required")
        stored = self.emulator._store(Upload(file_name, mime_type or "application/octet-stream", content))
        user = self.emulator.user(user_id, profile)
        self.emulator.blocked.discard(user_id)
        chat = self.emulator.private_chat(user)
        document = Document(file_id=stored.file_id, file_unique_id=stored.file_unique_id, file_name=stored.file_name,
                            mime_type=stored.mime_type, file_size=len(stored.content))  # fmt: skip
        message = Message(message_id=chat.next_message_id, date=datetime.now(UTC), chat=Chat.model_validate(chat.chat),
                          from_user=User.model_validate(user), document=document, caption=caption or None)  # fmt: skip
        chat.next_message_id += 1
        chat.messages[message.message_id] = message.model_dump(mode="json", exclude_none=True, by_alias=True)
        await self.emulator.append(chat, "user_document", {
            "message_id": message.message_id, "file_name": stored.file_name, "mime_type": stored.mime_type,
            "file_size": len(stored.content), "file_id": stored.file_id, "caption": caption or None})  # fmt: skip
        update = await self.emulator.enqueue(lambda update_id: Update(update_id=update_id, message=message))
        return {**update, "message_id": message.message_id, "file_id": stored.file_id}

    async def _control_send(self, request: web.Request) -> web.Response:
        user_id = int(request.match_info["user_id"])
        mime_type: str | None
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            part = form.get("document")
            if not isinstance(part, web.FileField):
                raise BadRequest("Bad Request: there is no document in the request")
            fields = {key: value for key, value in form.items() if isinstance(value, str)}
            content, file_name = part.file.read(), str(fields.get("file_name") or part.filename)
            mime_type = fields.get("mime_type") or part.content_type
        else:
            fields = await json_body(request)
            try:
                content = base64.b64decode(str(fields.get("content_base64", "")), validate=True)
            except (binascii.Error, ValueError):
                raise BadRequest("Bad Request: content_base64 is not valid base64") from None
            file_name = str(fields.get("file_name", ""))
            mime_type = str(fields["mime_type"]) if fields.get("mime_type") else None
        result = await self.user_sends_document(user_id, file_name=file_name, content=content,
                                                mime_type=mime_type or None,
                                                caption=str(fields["caption"]) if fields.get("caption") else None,
                                                **profile_of(fields))  # fmt: skip
        return ok_response(result)
