"""The Bot API emulator: ``/bot<token>/<method>`` as Telegram serves it, plus a control API.

The bot cannot tell it from Telegram: same URLs, same parameter encodings (query string,
form, multipart, JSON), same ``{"ok": ..., "result" | "error_code", "description"}`` answers,
long-polling ``getUpdates`` and webhook delivery with the secret-token header. Every update
is built from aiogram's own types, so it always parses.

The control API (``/control/...``) lets a test or a person act as users, read each chat's
transcript and make the next calls fail with 429 or 5xx.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import aiohttp
from aiogram.types import CallbackQuery, Chat, Message, MessageEntity, Update, User
from aiohttp import web

from infra.emulator.markup import MAX_CALLBACK_ANSWER, BadRequest, check_reply_markup, check_text

log = logging.getLogger("diana.emulator")

BOT_ID: Final = 100000001
SECRET_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{1,256}")
UPDATE_ID_EPOCH_MS: Final = 1_767_225_600_000  # 2026-01-01
BOT_USERNAME: Final = "diana_emulated_bot"
UPDATE_TYPES: Final = ("message", "edited_message", "callback_query", "pre_checkout_query", "my_chat_member",
                       "chat_member", "chat_join_request", "channel_post", "message_reaction")  # fmt: skip
# Complex parameters arrive JSON-encoded in query strings and forms.
JSON_PARAMS: Final = frozenset({"reply_markup", "allowed_updates", "entities", "commands", "scope", "reply_parameters",
                                "link_preview_options", "prices"})  # fmt: skip

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


@dataclass
class Fault:
    remaining: int
    error_code: int
    retry_after: int
    methods: frozenset[str] | None


@dataclass
class ChatLog:
    """One chat as both sides see it: current messages and the ordered transcript."""

    chat: dict[str, Any]
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    next_message_id: int = 1


class BotAPIEmulator:
    """In-memory Telegram for one bot. Start with :meth:`start`, stop with :meth:`stop`."""

    def __init__(self, *, token: str | None = None, first_update_id: int | None = None) -> None:
        # None accepts any well-formed token, as a stand-in for "the bot's own token".
        self.token = token
        self.updates: list[dict[str, Any]] = []
        # Like Telegram, update ids only ever grow, also across emulator restarts: journeys
        # de-duplicate by update id, so a restarted emulator must not hand out old ids again.
        self.next_update_id = first_update_id or _fresh_update_id()
        self.confirmed_offset = 0
        self.allowed_updates: list[str] | None = None
        self.webhook: dict[str, Any] | None = None
        self.users: dict[int, dict[str, Any]] = {}
        self.blocked: set[int] = set()
        self.chats: dict[int, ChatLog] = {}
        self.callback_queries: dict[str, dict[str, Any]] = {}
        self.faults: list[Fault] = []
        self.calls: list[dict[str, Any]] = []
        self.commands: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._transcript_seq = 0
        self._poller: asyncio.Future[None] | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._closing = False
        self.app = self._build_app()
        self._methods: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "close": self._close,
            "logOut": self._close,
        }

    # Lifecycle -------------------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port); returns the base URL for the bot."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._webhook_task = asyncio.create_task(self._deliver_webhooks())
        return self.base_url

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        # Release long polls at once, so the server does not wait out their timeouts.
        self._closing = True
        await self._notify()
        if self._webhook_task:
            try:
                await asyncio.wait_for(self._webhook_task, timeout=2)
            except TimeoutError:
                self._webhook_task.cancel()
        if self._runner:
            await self._runner.cleanup()

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=60 * 1024 * 1024, middlewares=[_control_input_errors])
        app.router.add_route("*", "/bot{token}/{method}", self._bot_api)
        app.router.add_post("/control/users/{user_id}/messages", self._control_send_text)
        app.router.add_post("/control/users/{user_id}/press", self._control_press)
        app.router.add_post("/control/users/{user_id}/block", self._control_block)
        app.router.add_get("/control/chats/{chat_id}/transcript", self._control_transcript)
        app.router.add_get("/control/chats/{chat_id}/messages", self._control_messages)
        app.router.add_post("/control/faults", self._control_add_fault)
        app.router.add_delete("/control/faults", self._control_clear_faults)
        app.router.add_get("/control/calls", self._control_calls)
        app.router.add_get("/control/updates", self._control_updates)
        return app

    # The Bot API -----------------------------------------------------------------------------------------

    async def _bot_api(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        if not self._token_ok(token):
            return _error(401, "Unauthorized")
        handler = next((h for name, h in self._methods.items() if name.lower() == method.lower()), None)
        if handler is None:
            self.calls.append({"method": method, "ok": False, "error_code": 404})
            return _error(404, "Not Found: method not found")
        try:
            params = await _read_params(request)
        except BadRequest as bad:
            return _error(bad.error_code, bad.description)
        fault = self._take_fault(method)
        if fault is not None:
            self.calls.append({"method": method, "ok": False, "error_code": fault.error_code})
            if fault.error_code == 429:
                return _error(429, f"Too Many Requests: retry after {fault.retry_after}",
                              {"retry_after": fault.retry_after})  # fmt: skip
            return _error(fault.error_code, "Internal Server Error" if fault.error_code == 500 else "Bad Gateway")
        try:
            result = await handler(params)
        except BadRequest as bad:
            self.calls.append({"method": method, "ok": False, "error_code": bad.error_code, "error": bad.description})
            return _error(bad.error_code, bad.description)
        self.calls.append({"method": method, "ok": True})
        return web.json_response({"ok": True, "result": result})

    def _token_ok(self, token: str) -> bool:
        if self.token is not None:
            return token == self.token
        bot_id, _, secret = token.partition(":")
        return bot_id.isdigit() and bool(secret)

    def _take_fault(self, method: str) -> Fault | None:
        for fault in self.faults:
            applies = method in fault.methods if fault.methods is not None else method != "getUpdates"
            if applies and fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.faults.remove(fault)
                return fault
        return None

    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return User(id=BOT_ID, is_bot=True, first_name="Diana", username=BOT_USERNAME, can_join_groups=True,
                    can_read_all_group_messages=False, supports_inline_queries=False).model_dump(
            mode="json", exclude_none=True, by_alias=True)  # fmt: skip

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise BadRequest("Conflict: can't use getUpdates method while webhook is active; use deleteWebhook "
                             "to delete the webhook first", 409)  # fmt: skip
        offset = _int(params, "offset", 0)
        limit = _int(params, "limit", 100)
        timeout = _int(params, "timeout", 0)
        if not 1 <= limit <= 100:
            limit = min(max(limit, 1), 100)
        if "allowed_updates" in params:
            allowed = params["allowed_updates"]
            self.allowed_updates = list(allowed) if allowed else None
        if offset:
            self._confirm(offset)
        # A newer getUpdates ends the one still waiting, as Telegram does.
        if self._poller is not None and not self._poller.done():
            self._poller.set_exception(BadRequest("Conflict: terminated by other getUpdates request; make sure "
                                                  "that only one bot instance is running", 409))  # fmt: skip
        me: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._poller = me
        deadline = time.monotonic() + timeout
        try:
            async with self._changed:
                while True:
                    if me.done():
                        me.result()
                    pending = self._pending()
                    left = deadline - time.monotonic()
                    if pending or left <= 0 or self._closing:
                        return pending[:limit]
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), timeout=min(left, 0.5))
        finally:
            if self._poller is me:
                self._poller = None

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            self.updates = self.updates[offset:]
        else:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]

    def _pending(self) -> list[dict[str, Any]]:
        return [u for u in self.updates if _allowed(u, self.allowed_updates)]

    async def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = str(params.get("url", ""))
        if not url:
            self.webhook = None
            return True
        if not url.startswith(("http://", "https://")):
            raise BadRequest("Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not SECRET_TOKEN.fullmatch(str(secret)):
            raise BadRequest("Bad Request: secret token contains unallowed characters")
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self.updates = []
        # Like Telegram: without allowed_updates, the previous choice stays.
        allowed = params["allowed_updates"] if "allowed_updates" in params else self.allowed_updates
        self.allowed_updates = allowed or None
        self.webhook = {"url": url, "secret_token": secret, "allowed_updates": allowed or None, "last_error": None}
        await self._notify()
        return True

    async def _delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self.updates = []
        return True

    async def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {"url": "", "has_custom_certificate": False, "pending_update_count": len(self.updates)}
        if self.webhook:
            info["url"] = self.webhook["url"]
            if self.webhook["allowed_updates"]:
                info["allowed_updates"] = self.webhook["allowed_updates"]
            if self.webhook["last_error"]:
                info["last_error_date"], info["last_error_message"] = self.webhook["last_error"]
        return info

    def _chat_for_bot(self, params: dict[str, Any]) -> ChatLog:
        if "chat_id" not in params:
            raise BadRequest("Bad Request: chat_id is empty")
        try:
            chat_id = int(params["chat_id"])
        except (TypeError, ValueError):
            raise BadRequest("Bad Request: chat not found") from None
        chat = self.chats.get(chat_id)
        if chat is None:
            raise BadRequest("Bad Request: chat not found")
        if chat_id in self.blocked:
            raise BadRequest("Forbidden: bot was blocked by the user", 403)
        return chat

    def _message_for_bot(self, params: dict[str, Any], missing: str) -> tuple[ChatLog, dict[str, Any]]:
        chat = self._chat_for_bot(params)
        message = chat.messages.get(_int(params, "message_id", 0))
        if message is None:
            raise BadRequest(f"Bad Request: {missing}")
        return chat, message

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat_for_bot(params)
        text, entities = check_text(params.get("text"), params.get("parse_mode"), params.get("entities"))
        markup = check_reply_markup(params.get("reply_markup"))
        message = Message(
            message_id=chat.next_message_id,
            date=datetime.now(UTC),
            chat=Chat.model_validate(chat.chat),
            from_user=User(id=BOT_ID, is_bot=True, first_name="Diana", username=BOT_USERNAME),
        ).model_dump(mode="json", exclude_none=True, by_alias=True)
        chat.next_message_id += 1
        message["text"] = text
        if entities:
            message["entities"] = entities
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        chat.messages[message["message_id"]] = message
        await self._record(chat, "bot_message", message, params)
        return message

    async def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, message = self._message_for_bot(params, "message to edit not found")
        if message["from"]["id"] != BOT_ID:
            raise BadRequest("Bad Request: message can't be edited")
        text, entities = check_text(params.get("text"), params.get("parse_mode"), params.get("entities"))
        markup = check_reply_markup(params.get("reply_markup"))
        if (message.get("text"), message.get("entities", []), message.get("reply_markup")) == (text, entities, markup):
            raise BadRequest("Bad Request: message is not modified: specified new message content and reply markup "
                             "are exactly the same as a current content and reply markup of the message")  # fmt: skip
        message["text"] = text
        message.pop("entities", None)
        if entities:
            message["entities"] = entities
        message["edit_date"] = int(time.time())
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        await self._record(chat, "bot_edit", message, params)
        return message

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, message = self._message_for_bot(params, "message to edit not found")
        markup = check_reply_markup(params.get("reply_markup"))
        if message.get("reply_markup") == markup:
            raise BadRequest("Bad Request: message is not modified: specified new message content and reply markup "
                             "are exactly the same as a current content and reply markup of the message")  # fmt: skip
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        message["edit_date"] = int(time.time())
        await self._record(chat, "bot_edit", message, params)
        return message

    async def _delete_message(self, params: dict[str, Any]) -> bool:
        chat, message = self._message_for_bot(params, "message to delete not found")
        del chat.messages[message["message_id"]]
        await self._record(chat, "bot_delete", message, params)
        return True

    async def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query = self.callback_queries.get(str(params.get("callback_query_id", "")))
        if query is None or query["answered"]:
            raise BadRequest("Bad Request: query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if text is not None and len(str(text)) > MAX_CALLBACK_ANSWER:
            raise BadRequest("Bad Request: MESSAGE_TOO_LONG")
        query["answered"] = True
        chat = self.chats[query["chat_id"]]
        entry = {"text": text, "show_alert": str(params.get("show_alert", "")).lower() == "true",
                 "callback_query_id": query["id"]}  # fmt: skip
        await self._append(chat, "callback_answer", entry)
        return True

    async def _send_chat_action(self, params: dict[str, Any]) -> bool:
        self._chat_for_bot(params)
        return True

    async def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise BadRequest("Bad Request: commands must be an array of at most 100 BotCommand")
        for command in commands:
            name = str(command.get("command", ""))
            if not (1 <= len(name) <= 32) or not name.replace("_", "").isalnum() or name.lower() != name:
                raise BadRequest("Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise BadRequest("Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands = commands
        return True

    async def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands

    async def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands = []
        return True

    async def _close(self, params: dict[str, Any]) -> bool:
        return True

    # Users acting --------------------------------------------------------------------------------------

    def _user(self, user_id: int, profile: dict[str, Any]) -> dict[str, Any]:
        known = self.users.setdefault(user_id, {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"})
        for key in ("first_name", "last_name", "username", "language_code"):
            if profile.get(key):
                known[key] = profile[key]
        return known

    def _private_chat(self, user: dict[str, Any]) -> ChatLog:
        chat = self.chats.get(user["id"])
        if chat is None:
            chat = ChatLog(chat={"id": user["id"], "type": "private", "first_name": user["first_name"],
                                 **({"username": user["username"]} if user.get("username") else {})})  # fmt: skip
            self.chats[user["id"]] = chat
        return chat

    async def user_sends_text(self, user_id: int, text: str, **profile: Any) -> dict[str, Any]:
        """A user writes ``text`` to the bot in their private chat; returns the update."""
        if not text:
            raise BadRequest("Bad Request: message text is empty")
        user = self._user(user_id, profile)
        self.blocked.discard(user_id)
        chat = self._private_chat(user)
        entities = []
        if text.startswith("/"):
            command = text.split()[0]
            entities.append(MessageEntity(type="bot_command", offset=0, length=len(command)))
        message = Message(
            message_id=chat.next_message_id,
            date=datetime.now(UTC),
            chat=Chat.model_validate(chat.chat),
            from_user=User.model_validate(user),
            text=text,
            entities=entities or None,
        )
        chat.next_message_id += 1
        dumped = message.model_dump(mode="json", exclude_none=True, by_alias=True)
        chat.messages[message.message_id] = dumped
        await self._append(chat, "user_message", {"message_id": message.message_id, "text": text})
        return await self._enqueue(lambda update_id: Update(update_id=update_id, message=message))

    async def user_presses(self, user_id: int, *, message_id: int, callback_data: str, chat_id: int | None = None,
                           forge: bool = False) -> dict[str, Any]:  # fmt: skip
        """A user presses an inline button; unless ``forge``, the button must exist on that message."""
        user = self._user(user_id, {})
        chat = self.chats.get(chat_id if chat_id is not None else user_id)
        if chat is None:
            raise BadRequest("Bad Request: chat not found")
        message = chat.messages.get(message_id)
        if message is None:
            raise BadRequest("Bad Request: message not found")
        if not forge:
            buttons = [b.get("callback_data") for row in message.get("reply_markup", {}).get("inline_keyboard", [])
                       for b in row]  # fmt: skip
            if callback_data not in buttons:
                raise BadRequest("Bad Request: the message has no button with that callback_data")
        query_id = f"{user_id}{len(self.callback_queries) + 1:08d}"
        self.callback_queries[query_id] = {"id": query_id, "chat_id": chat.chat["id"], "answered": False}
        await self._append(chat, "user_press", {"message_id": message_id, "callback_data": callback_data,
                                                "user_id": user_id})  # fmt: skip
        query = CallbackQuery(
            id=query_id,
            from_user=User.model_validate(user),
            chat_instance=f"ci{chat.chat['id']}",
            message=Message.model_validate(message),
            data=callback_data,
        )
        update = await self._enqueue(lambda update_id: Update(update_id=update_id, callback_query=query))
        return {**update, "callback_query_id": query_id}

    async def _enqueue(self, build: Callable[[int], Update]) -> dict[str, Any]:
        update = build(self.next_update_id).model_dump(mode="json", exclude_none=True, by_alias=True)
        self.next_update_id += 1
        self.updates.append(update)
        await self._notify()
        return {"update_id": update["update_id"]}

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _record(self, chat: ChatLog, kind: str, message: dict[str, Any], params: dict[str, Any]) -> None:
        buttons = [[{"text": b.get("text"), "callback_data": b.get("callback_data"), "url": b.get("url")}
                    for b in row] for row in message.get("reply_markup", {}).get("inline_keyboard", [])]  # fmt: skip
        # ``text`` is what the user reads; ``html`` is what the bot sent, when it sent HTML.
        html = params.get("text") if (params.get("parse_mode") or "").upper() == "HTML" else None
        await self._append(chat, kind, {"message_id": message["message_id"], "text": message.get("text"),
                                        "html": html, "entities": message.get("entities", []),
                                        "buttons": buttons})  # fmt: skip

    async def _append(self, chat: ChatLog, kind: str, entry: dict[str, Any]) -> None:
        self._transcript_seq += 1
        chat.transcript.append({"seq": self._transcript_seq, "kind": kind, "at": time.time(), **entry})
        await self._notify()

    # Webhook delivery ----------------------------------------------------------------------------------

    async def _deliver_webhooks(self) -> None:
        async with aiohttp.ClientSession() as session:
            while not self._closing:
                webhook = self.webhook
                pending = [u for u in self.updates if webhook and _allowed(u, webhook["allowed_updates"])]
                if webhook is None or not pending:
                    async with self._changed:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._changed.wait(), timeout=0.5)
                    continue
                update = pending[0]
                headers = {"Content-Type": "application/json"}
                if webhook["secret_token"]:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = str(webhook["secret_token"])
                try:
                    async with session.post(webhook["url"], data=json.dumps(update), headers=headers,
                                            timeout=aiohttp.ClientTimeout(total=10)) as response:  # fmt: skip
                        delivered = 200 <= response.status < 300
                        error = f"Wrong response from the webhook: {response.status} {response.reason}"
                except (aiohttp.ClientError, TimeoutError) as exc:
                    delivered, error = False, f"Connection failed: {exc}"
                if delivered:
                    self.updates = [u for u in self.updates if u["update_id"] != update["update_id"]]
                else:
                    webhook["last_error"] = (int(time.time()), error)
                    await asyncio.sleep(0.5)

    # Control API ---------------------------------------------------------------------------------------

    async def _control_send_text(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        result = await self.user_sends_text(int(request.match_info["user_id"]), str(body.get("text", "")),
                                            **{k: body[k] for k in ("first_name", "last_name", "username",
                                                                     "language_code") if k in body})  # fmt: skip
        return web.json_response({"ok": True, "result": result})

    async def _control_press(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        try:
            result = await self.user_presses(
                int(request.match_info["user_id"]),
                message_id=int(body["message_id"]),
                callback_data=str(body["callback_data"]),
                chat_id=int(body["chat_id"]) if body.get("chat_id") is not None else None,
                forge=bool(body.get("forge", False)),
            )
        except (KeyError, ValueError):
            return _error(400, "Bad Request: message_id and callback_data are required")
        return web.json_response({"ok": True, "result": result})

    async def _control_block(self, request: web.Request) -> web.Response:
        self.blocked.add(int(request.match_info["user_id"]))
        return web.json_response({"ok": True, "result": True})

    async def _control_transcript(self, request: web.Request) -> web.Response:
        chat = self.chats.get(int(request.match_info["chat_id"]))
        after = int(request.query.get("after", 0))
        wait = min(float(request.query.get("wait", 0)), 60.0)
        deadline = time.monotonic() + wait
        while True:
            entries = [e for e in chat.transcript if e["seq"] > after] if chat else []
            left = deadline - time.monotonic()
            if entries or left <= 0 or self._closing:
                return web.json_response({"ok": True, "result": entries})
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=min(left, 0.5))
            chat = self.chats.get(int(request.match_info["chat_id"]))

    async def _control_messages(self, request: web.Request) -> web.Response:
        chat = self.chats.get(int(request.match_info["chat_id"]))
        return web.json_response({"ok": True, "result": list(chat.messages.values()) if chat else []})

    async def _control_add_fault(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        methods = body.get("methods")
        self.faults.append(Fault(remaining=int(body.get("count", 1)), error_code=int(body.get("error_code", 429)),
                                 retry_after=int(body.get("retry_after", 1)),
                                 methods=frozenset(methods) if methods else None))  # fmt: skip
        return web.json_response({"ok": True, "result": True})

    async def _control_clear_faults(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return web.json_response({"ok": True, "result": True})

    async def _control_calls(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "result": self.calls})

    async def _control_updates(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "result": {"pending": len(self.updates),
                                                         "next_update_id": self.next_update_id}})  # fmt: skip


_last_fresh_update_id = 0


def _fresh_update_id() -> int:
    """A first update id above any handed out before: milliseconds since 2026, never repeating in-process."""
    global _last_fresh_update_id
    _last_fresh_update_id = max(int(time.time() * 1000) - UPDATE_ID_EPOCH_MS, _last_fresh_update_id + 1_000_000, 1)
    return _last_fresh_update_id


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


@web.middleware
async def _control_input_errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                                ) -> web.StreamResponse:  # fmt: skip
    """Refused or malformed control requests (ids that are not numbers, missing fields) get a 400, never a 500."""
    try:
        return await handler(request)
    except BadRequest as bad:
        return _error(bad.error_code, bad.description)
    except (ValueError, KeyError, TypeError) as error:
        if not request.path.startswith("/control/"):
            raise
        return _error(400, f"Bad Request: {error}")


def _update_type(update: dict[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


def _allowed(update: dict[str, Any], allowed_updates: list[str] | None) -> bool:
    """Telegram's default (no list) is every update type except these three."""
    if not allowed_updates:
        return _update_type(update) not in {"chat_member", "message_reaction", "message_reaction_count"}
    return _update_type(update) in allowed_updates


def _int(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(f'Bad Request: field "{name}" must be a valid Number') from None


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, aiohttp.ContentTypeError):
        return {}
    return body if isinstance(body, dict) else {}


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Parameters from the query string and any body encoding the Bot API accepts."""
    params: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise BadRequest("Bad Request: parameters must be a JSON object")
            params.update(body)
        else:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, str):
                    params[key] = value
                elif isinstance(value, bytes | bytearray):
                    params[key] = value.decode(errors="replace")
                else:
                    params[key] = value.file.read().decode(errors="replace")
    for key in JSON_PARAMS & params.keys():
        if isinstance(params[key], str):
            try:
                params[key] = json.loads(params[key])
            except json.JSONDecodeError:
                raise BadRequest(f"Bad Request: can't parse {key} JSON object") from None
    return params
