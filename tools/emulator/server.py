"""The Bot API emulator: ``/bot<token>/<method>`` as Telegram serves it, plus a control API.

The bot cannot tell it from Telegram: same URLs, same parameter encodings (query string,
form, multipart, JSON), same ``{"ok": ..., "result" | "error_code", "description"}`` answers,
long-polling ``getUpdates`` and webhook delivery with the secret-token header. Every update
is built from aiogram's own types, so it always parses.

Besides private chats it knows community channels (the bot is their administrator): by default
``Diana · Comunidad`` (-1001000000001, @diana_comunidad). The bot posts there as Telegram does
(``chat.type`` "channel", ``sender_chat`` set, no ``from``), users press buttons on channel posts,
join (by themselves or through the bot's invite links, maybe as join requests) and leave; the bot
bans and unbans (:mod:`tools.emulator.access`). ``chat_member`` updates are only created when the bot
asked for them in ``allowed_updates`` (getUpdates or setWebhook), like Telegram: a join made before
that is never delivered. Photos, videos, animations, voice notes, audio and documents (sent one by one or
as albums, edited, copied; :mod:`tools.emulator.media`) are kept as files, readable with ``getFile`` and
``/file/bot<token>/<file_path>`` (:mod:`tools.emulator.files`). Invoices are paid, pre-checked, refunded and
listed as Star transactions (:mod:`tools.emulator.payments`); paid media are bought with Stars
(:mod:`tools.emulator.paid_media`).

The control API (``/control/...``) lets a test or a person act as users, read each chat's
transcript and make the next calls fail with 429 or 5xx. Each answer is ``{"ok": true, "result": ...}``
or Telegram's error shape:

- ``POST /control/users/{user_id}/messages`` {"text", "forwarded_from"?, "reply_to_message_id"?, profile...}: the
  user writes in their private chat (or forwards there a message of user ``forwarded_from``, which arrives with
  ``forward_origin``), answering a message of the chat when ``reply_to_message_id`` is given.
- ``POST /control/users/{user_id}/press`` {"message_id", "callback_data", "chat_id"?, "forge"?, profile...}: the user
  presses a button, in their private chat or (with ``chat_id``) on a channel post; result
  ``{"update_id", "callback_query_id"}``.
- ``POST /control/users/{user_id}/join`` {"chat_id", "invite_link"?, profile...} and ``.../leave`` {"chat_id",
  profile...}: membership of a channel; result ``{"update_id": int | null, "status": "member" | "pending" |
  "left" | "kicked"}``, ``update_id`` null when Telegram would send no update (no change, or the bot did not ask
  for ``chat_member``); ``pending``: a join request, ``update_id`` its ``chat_join_request`` update. A join
  Telegram would refuse (banned user, revoked, expired or used-up link, private channel without a link) is a
  400 whose description says why. ``.../withdraw`` {"chat_id"}: the user cancels a pending join request (no
  update; the transcript's ``user_withdraw_join_request``).
- ``POST /control/users/{user_id}/pay``: the user pays an invoice (see :mod:`tools.emulator.payments`);
  ``GET /control/payments``: every charge and whether it was refunded.
- ``POST /control/users/{user_id}/stars``: the user's Stars balance; ``POST
  /control/users/{user_id}/subscriptions/renew``: Telegram charges the user's Stars subscriptions whose period is
  due (or lets them lapse: canceled, not enough Stars); ``GET /control/subscriptions``: every subscription.
- ``POST /control/users/{user_id}/media``, ``.../forward``, ``POST /control/channels/{chat_id}/posts``: users send
  files and forward messages, administrators post in channels (see :mod:`tools.emulator.media`);
  ``POST /control/users/{user_id}/paid_media``: the user buys paid media (see :mod:`tools.emulator.paid_media`).
- ``POST /control/users/{user_id}/block``: the user blocks the bot.
- ``POST /control/channels`` {"chat_id", "title", "username"?, "private"?}: a new (or renamed) channel; result its
  Chat. A private channel has no username and is joined only through an invite link.
- ``GET /control/callbacks/{callback_query_id}?wait=seconds``: one pressed button and the bot's answer:
  ``{"id", "user_id", "chat_id", "message_id", "data", "answered", "answer": null | {"text", "show_alert",
  "url", "cache_time"}}``; ``wait`` holds the request until the query is answered. Toasts are private to the
  user who pressed, so this is where they are read; private chats also get a ``callback_answer`` transcript
  entry, channel transcripts never do.
- ``GET /control/chats/{chat_id}/transcript?after=seq&wait=seconds`` and ``.../messages``: what a chat shows.
  Transcript kinds: ``user_message``, ``user_press``, ``bot_message``, ``bot_edit``, ``bot_delete``,
  ``bot_document`` (with ``file_name``, ``mime_type``, ``file_size``, ``file_id``, ``document_text``: the bytes
  as UTF-8, null when they are not text, ``protected``), ``callback_answer``; media (:mod:`tools.emulator.media`):
  ``bot_photo``, ``bot_video``, ``bot_animation``, ``bot_voice``, ``bot_audio``, ``bot_media_group``,
  ``bot_edit_media``, ``bot_edit_caption``, ``user_photo``..., ``user_forward``, ``admin_post``; paid media:
  ``bot_paid_media``, ``user_paid_media_purchase``; payments in the private chat: ``bot_invoice``,
  ``pre_checkout_answer``, ``user_payment``, ``bot_refund``; membership in the channel: ``user_join`` (with
  ``invite_link``, ``approved``), ``user_leave``, ``user_join_request``, ``bot_approve_join_request``,
  ``bot_decline_join_request``, ``bot_ban`` (with ``until_date``), ``bot_unban``, ``bot_remove``.
- ``POST /control/updates/{update_id}/redeliver``: the update again, same id (see :meth:`BotAPIEmulator.redeliver`);
  result ``{"update_id", "type"}``.
- ``POST /control/faults`` {"count"?, "error_code"?, "retry_after"?, "methods"?, "delay"?} / ``DELETE
  /control/faults``: the next ``count`` calls (of ``methods``) fail with ``error_code`` (429 with ``retry_after``),
  or, with ``delay``, are carried out at once and answered ``delay`` seconds later. ``GET /control/calls``,
  ``GET /control/updates``.
- ``POST /control/limits`` {"enabled"?, "per_second"?, "per_chat_interval"?}: Telegram's flood control for
  ``sendMessage`` (off unless asked for; default 30 a second overall, one a second per chat). A send over
  the limit gets 429 "Too Many Requests: retry after N" with ``parameters.retry_after``, and is recorded in
  ``/control/calls`` with its ``chat_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import aiohttp
from aiogram.types import (
    AcceptedGiftTypes,
    CallbackQuery,
    Chat,
    ChatFullInfo,
    Message,
    MessageEntity,
    MessageOriginUser,
    Update,
    User,
)
from aiohttp import web

from tools.emulator.access import Access
from tools.emulator.common import (
    BOT_ID,
    BOT_USERNAME,
    QUERY_TOO_OLD,
    Handler,
    bool_param,
    bot_user,
    buttons_of,
    error_response,
    int_param,
    json_body,
    not_found,
    ok_response,
    profile_of,
)
from tools.emulator.documents import Documents
from tools.emulator.files import MAX_DOWNLOAD, StoredFile, Upload, store
from tools.emulator.markup import MAX_CALLBACK_ANSWER, BadRequest, check_reply_markup, check_text
from tools.emulator.media import ATTACHMENTS, Media
from tools.emulator.paid_media import PaidMedia
from tools.emulator.payments import PRE_CHECKOUT_TIMEOUT, Payments

log = logging.getLogger("diana.emulator")

# setWebhook's max_connections: Telegram's default and ceiling.
DEFAULT_WEBHOOK_CONNECTIONS: Final = 40
MAX_WEBHOOK_CONNECTIONS: Final = 100
SECRET_TOKEN: Final = re.compile(r"[A-Za-z0-9_-]{1,256}")
UPDATE_ID_EPOCH_MS: Final = 1_767_225_600_000  # 2026-01-01
UPDATE_TYPES: Final = ("message", "edited_message", "callback_query", "pre_checkout_query", "my_chat_member",
                       "chat_member", "chat_join_request", "channel_post", "message_reaction", "purchased_paid_media")  # fmt: skip
# Complex parameters arrive JSON-encoded in query strings and forms.
JSON_PARAMS: Final = frozenset({"reply_markup", "allowed_updates", "entities", "commands", "scope", "reply_parameters",
                                "link_preview_options", "prices", "caption_entities", "media"})  # fmt: skip
# Telegram creates these only for a bot that asked for them: a later allowed_updates brings no old ones.
OPT_IN_UPDATES: Final = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# Parameters that take an InputFile: a multipart part of that name, or "attach://<part>".
FILE_PARAMS: Final = frozenset({"document", "thumbnail", "photo", "video", "animation", "voice", "audio", "cover"})
CHANNEL_ID: Final = -1001000000001
CHANNEL_TITLE: Final = "Diana · Comunidad"
CHANNEL_USERNAME: Final = "diana_comunidad"
# The private VIP channel, joined only through an invite link (matches infra.settings.EMULATOR_VIP_CHANNEL).
VIP_CHANNEL_ID: Final = -1001000000009
VIP_CHANNEL_TITLE: Final = "Diana · VIP"
CHANNEL_USERNAME_RULE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,30}[A-Za-z0-9]")
# Built updates kept for redelivery (POST /control/updates/{update_id}/redeliver).
UPDATE_HISTORY: Final = 10_000
# Methods under flood control when it is switched on (POST /control/limits).
FLOOD_LIMITED: Final = frozenset({"sendmessage"})


# What Telegram says with each error code a test's fault asks for.
FAULT_DESCRIPTIONS: Final = {400: "Bad Request: the request was refused", 403: "Forbidden: bot was blocked by the user",
                             500: "Internal Server Error"}  # fmt: skip


@dataclass
class Fault:
    remaining: int
    error_code: int
    retry_after: int
    methods: frozenset[str] | None
    # A slow Telegram: the call is carried out at once and answered this many seconds later (no error).
    delay: float = 0.0


@dataclass
class FloodLimits:
    """Telegram's flood control: ``per_second`` sends a second overall, one per ``per_chat_interval`` per chat."""

    per_second: int = 30
    per_chat_interval: float = 1.0
    recent: deque[float] = field(default_factory=deque)
    last_to_chat: dict[str, float] = field(default_factory=dict)

    def wait(self, chat_id: str, now: float) -> int:
        """Whole seconds to wait before a send to ``chat_id`` (0: it goes now, and counts)."""
        while self.recent and self.recent[0] <= now - 1.0:
            self.recent.popleft()
        last = self.last_to_chat.get(chat_id)
        if last is not None and now - last < self.per_chat_interval:
            return max(1, math.ceil(last + self.per_chat_interval - now))
        if len(self.recent) >= self.per_second:
            return max(1, math.ceil(self.recent[0] + 1.0 - now))
        self.recent.append(now)
        self.last_to_chat[chat_id] = now
        return 0


@dataclass
class ChatLog:
    """One chat as both sides see it: current messages, the ordered transcript and (channels) members.

    A channel also keeps its bans' ``until_date`` (0: forever), its pending join requests (user id to the
    invite link used) and whether it is ``invite_only`` (joined only through an invite link).
    """

    chat: dict[str, Any]
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    next_message_id: int = 1
    members: dict[int, str] = field(default_factory=dict)
    banned_until: dict[int, int] = field(default_factory=dict)
    join_requests: dict[int, str | None] = field(default_factory=dict)
    invite_only: bool = False

    @property
    def is_channel(self) -> bool:
        return bool(self.chat["type"] == "channel")


class BotAPIEmulator:
    """In-memory Telegram for one bot. Start with :meth:`start`, stop with :meth:`stop`."""

    def __init__(self, *, token: str | None = None, first_update_id: int | None = None,
                 pre_checkout_timeout: float = PRE_CHECKOUT_TIMEOUT, flood_limits: bool = False) -> None:  # fmt: skip
        # None accepts any well-formed token, as a stand-in for "the bot's own token".
        self.token = token
        self.updates: list[dict[str, Any]] = []
        # Every update built (the newest UPDATE_HISTORY), by id; and the redelivered ones no getUpdates
        # has handed out yet, which an offset already past them must not drop.
        self.history: dict[int, dict[str, Any]] = {}
        self.redelivered: set[int] = set()
        # Updates posted to the webhook and not answered yet: in the bot's hands.
        self.delivering: set[int] = set()
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
        self.files: dict[str, StoredFile] = {}
        self.faults: list[Fault] = []
        # Off by default: tests of the journeys would trip over a real per-chat limit.
        self.flood_limits: FloodLimits | None = FloodLimits() if flood_limits else None
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
        self.add_channel(CHANNEL_ID, CHANNEL_TITLE, CHANNEL_USERNAME)
        self.add_channel(VIP_CHANNEL_ID, VIP_CHANNEL_TITLE, invite_only=True)
        self._methods: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "getFile": self._get_file,
            "getChat": self._get_chat,
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
        # Parts with their own methods and control routes.
        self.payments = Payments(self, pre_checkout_timeout=pre_checkout_timeout)
        self.access = Access(self)
        self.media = Media(self)
        self.paid_media = PaidMedia(self)
        for part in (self.payments, self.access, Documents(self), self.media, self.paid_media):
            self._methods.update(part.methods())
            part.add_routes(self.app.router)

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
        await self.notify()
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
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._download_file)
        app.router.add_post("/control/users/{user_id}/messages", self._control_send_text)
        app.router.add_post("/control/users/{user_id}/press", self._control_press)
        app.router.add_post("/control/users/{user_id}/block", self._control_block)
        app.router.add_post("/control/channels", self._control_add_channel)
        app.router.add_get("/control/callbacks/{callback_query_id}", self._control_callback)
        app.router.add_get("/control/chats/{chat_id}/transcript", self._control_transcript)
        app.router.add_get("/control/chats/{chat_id}/messages", self._control_messages)
        app.router.add_post("/control/faults", self._control_add_fault)
        app.router.add_delete("/control/faults", self._control_clear_faults)
        app.router.add_post("/control/limits", self._control_limits)
        app.router.add_get("/control/calls", self._control_calls)
        app.router.add_get("/control/updates", self._control_updates)
        app.router.add_post("/control/updates/{update_id}/redeliver", self._control_redeliver)
        return app

    # The Bot API -----------------------------------------------------------------------------------------

    async def _bot_api(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        if not self._token_ok(token):
            return error_response(401, "Unauthorized")
        handler = next((h for name, h in self._methods.items() if name.lower() == method.lower()), None)
        if handler is None:
            self.calls.append({"method": method, "ok": False, "error_code": 404})
            return error_response(404, "Not Found: method not found")
        try:
            params = await _read_params(request)
        except BadRequest as bad:
            return error_response(bad.error_code, bad.description)
        fault = self._take_fault(method)
        slow = fault.delay if fault is not None else 0.0
        if fault is not None and not slow:
            self.calls.append({"method": method, "ok": False, "error_code": fault.error_code})
            if fault.error_code == 429:
                return error_response(429, f"Too Many Requests: retry after {fault.retry_after}",
                              {"retry_after": fault.retry_after})  # fmt: skip
            return error_response(fault.error_code, FAULT_DESCRIPTIONS.get(fault.error_code, "Bad Gateway"))
        if self.flood_limits is not None and method.lower() in FLOOD_LIMITED:
            chat_id = str(params.get("chat_id", ""))
            retry_after = self.flood_limits.wait(chat_id, time.monotonic())
            if retry_after:
                self.calls.append({"method": method, "ok": False, "error_code": 429, "retry_after": retry_after,
                                   "chat_id": int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id})  # fmt: skip
                return error_response(429, f"Too Many Requests: retry after {retry_after}",
                                      {"retry_after": retry_after})  # fmt: skip
        try:
            result = await handler(params)
        except BadRequest as bad:
            self.calls.append({"method": method, "ok": False, "error_code": bad.error_code, "error": bad.description})
            return error_response(bad.error_code, bad.description)
        self.calls.append({"method": method, "ok": True})
        if slow:
            await asyncio.sleep(slow)
        return ok_response(result)

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
        offset = int_param(params, "offset", 0)
        limit = int_param(params, "limit", 100)
        timeout = int_param(params, "timeout", 0)
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
                        handed = pending[:limit]
                        self.redelivered.difference_update(u["update_id"] for u in handed)
                        return handed
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), timeout=min(left, 0.5))
        finally:
            if self._poller is me:
                self._poller = None

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            self.updates = self.updates[offset:]
        else:
            self.updates = [u for u in self.updates if u["update_id"] >= offset or u["update_id"] in self.redelivered]

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
            self.redelivered.clear()
        # Like Telegram: without allowed_updates, the previous choice stays.
        allowed = params["allowed_updates"] if "allowed_updates" in params else self.allowed_updates
        self.allowed_updates = allowed or None
        try:
            connections = int(params.get("max_connections", DEFAULT_WEBHOOK_CONNECTIONS))
        except (TypeError, ValueError):
            raise BadRequest("Bad Request: max_connections must be a number") from None
        if not 1 <= connections <= MAX_WEBHOOK_CONNECTIONS:
            raise BadRequest("Bad Request: max_connections must be between 1 and 100")
        self.webhook = {"url": url, "secret_token": secret, "allowed_updates": allowed or None, "last_error": None,
                        "max_connections": connections}  # fmt: skip
        await self.notify()
        return True

    async def _delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self.updates = []
            self.redelivered.clear()
        return True

    async def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = {"url": "", "has_custom_certificate": False, "pending_update_count": len(self.updates)}
        if self.webhook:
            info["url"] = self.webhook["url"]
            info["max_connections"] = self.webhook["max_connections"]
            if self.webhook["allowed_updates"]:
                info["allowed_updates"] = self.webhook["allowed_updates"]
            if self.webhook["last_error"]:
                info["last_error_date"], info["last_error_message"] = self.webhook["last_error"]
        return info

    def chat_id_of(self, params: dict[str, Any]) -> int:
        """``chat_id`` as a number, or a channel's ``@username`` as Telegram also accepts."""
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise BadRequest("Bad Request: chat_id is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            found = next((chat_id for chat_id, chat in self.chats.items() if chat.is_channel
                          and str(chat.chat.get("username", "")).lower() == raw[1:].lower()), None)  # fmt: skip
            if found is None:
                raise BadRequest("Bad Request: chat not found")
            return found
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise BadRequest("Bad Request: chat not found") from None

    def chat_for_bot(self, params: dict[str, Any]) -> ChatLog:
        chat_id = self.chat_id_of(params)
        chat = self.chats.get(chat_id)
        if chat is None:
            # Someone the bot met in a channel, who never wrote to it: Telegram lets no bot speak first.
            if chat_id in self.users:
                raise BadRequest("Forbidden: bot can't initiate conversation with a user", 403)
            raise BadRequest("Bad Request: chat not found")
        if chat_id in self.blocked:
            raise BadRequest("Forbidden: bot was blocked by the user", 403)
        return chat

    def _message_for_bot(self, params: dict[str, Any], missing: str) -> tuple[ChatLog, dict[str, Any]]:
        chat = self.chat_for_bot(params)
        message = chat.messages.get(int_param(params, "message_id", 0))
        if message is None:
            raise BadRequest(f"Bad Request: {missing}")
        return chat, message

    def message_for_user(self, user_id: int, chat_id: int, message_id: int, missing: str) -> tuple[ChatLog,
                                                                                                dict[str, Any]]:  # fmt: skip
        """A message the user can see: in their own chat with the bot, or in a channel."""
        chat = self.chats.get(chat_id)
        if chat is None or (not chat.is_channel and chat_id != user_id):
            raise BadRequest("Bad Request: chat not found")
        message = chat.messages.get(message_id)
        if message is None:
            raise BadRequest(f"Bad Request: {missing}")
        return chat, message

    def new_bot_message(self, chat: ChatLog) -> dict[str, Any]:
        """A new message by the bot: from the bot in a private chat, from the channel itself in a channel."""
        as_chat = Chat.model_validate(chat.chat)
        message = Message(
            message_id=chat.next_message_id,
            date=datetime.now(UTC),
            chat=as_chat,
            from_user=None if chat.is_channel else bot_user(),
            sender_chat=as_chat if chat.is_channel else None,
        ).model_dump(mode="json", exclude_none=True, by_alias=True)
        chat.next_message_id += 1
        return message

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self.chat_for_bot(params)
        text, entities = check_text(params.get("text"), params.get("parse_mode"), params.get("entities"))
        markup = check_reply_markup(params.get("reply_markup"))
        message = self.new_bot_message(chat)
        message["text"] = text
        if entities:
            message["entities"] = entities
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        # Kept on the message (users cannot forward it); the bot_message entry keeps its shape.
        if bool_param(params, "protect_content"):
            message["has_protected_content"] = True
        chat.messages[message["message_id"]] = message
        await self._record(chat, "bot_message", message, params)
        return message

    def _store(self, upload: Upload) -> StoredFile:
        return store(self.files, upload)

    async def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self.files.get(str(params.get("file_id", "")))
        if stored is None:
            raise BadRequest("Bad Request: invalid file_id")
        if len(stored.content) > MAX_DOWNLOAD:
            raise BadRequest("Bad Request: file is too big")
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.content), "file_path": stored.file_path}  # fmt: skip

    async def _download_file(self, request: web.Request) -> web.Response:
        if not self._token_ok(request.match_info["token"]):
            return error_response(401, "Unauthorized")
        path = request.match_info["file_path"]
        stored = next((f for f in self.files.values() if f.file_path == path), None)
        if stored is None:
            return error_response(404, "Not Found")
        return web.Response(body=stored.content, content_type=stored.mime_type)

    async def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        chat, message = self._message_for_bot(params, "message to edit not found")
        if not _sent_by_bot(message):
            raise BadRequest("Bad Request: message can't be edited")
        if "text" not in message:
            raise BadRequest("Bad Request: there is no text in the message to edit")
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
        if not _sent_by_bot(message):
            raise BadRequest("Bad Request: message can't be edited")
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
            raise BadRequest(QUERY_TOO_OLD)
        text = params.get("text")
        if text is not None and len(str(text)) > MAX_CALLBACK_ANSWER:
            raise BadRequest("Bad Request: MESSAGE_TOO_LONG")
        query["answered"] = True
        query["answer"] = {"text": text, "show_alert": str(params.get("show_alert", "")).lower() == "true",
                           "url": params.get("url"), "cache_time": int_param(params, "cache_time", 0)}  # fmt: skip
        chat = self.chats[query["chat_id"]]
        # The toast is for the one who pressed: a channel's transcript (what everyone sees) never shows it.
        if not chat.is_channel:
            entry = {"text": text, "show_alert": query["answer"]["show_alert"], "callback_query_id": query["id"]}
            await self.append(chat, "callback_answer", entry)
        await self.notify()
        return True

    async def _get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self.chat_id_of(params)
        known = self.chats.get(chat_id)
        chat = known.chat if known else (_private_chat_object(self.users[chat_id]) if chat_id in self.users else None)
        if chat is None:
            raise BadRequest("Bad Request: chat not found")
        info = {**chat}
        if self.users.get(chat_id, {}).get("last_name"):
            info["last_name"] = self.users[chat_id]["last_name"]
        return ChatFullInfo(
            **info,
            accent_color_id=abs(chat_id) % 7,
            max_reaction_count=11,
            accepted_gift_types=AcceptedGiftTypes(unlimited_gifts=False, limited_gifts=False, unique_gifts=False,
                                                  premium_subscription=False, gifts_from_channels=False),
        ).model_dump(mode="json", exclude_none=True, by_alias=True)  # fmt: skip

    async def _send_chat_action(self, params: dict[str, Any]) -> bool:
        self.chat_for_bot(params)
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

    def user(self, user_id: int, profile: dict[str, Any]) -> dict[str, Any]:
        known = self.users.setdefault(user_id, {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"})
        for key in ("first_name", "last_name", "username", "language_code"):
            if profile.get(key):
                known[key] = profile[key]
        return known

    def private_chat(self, user: dict[str, Any]) -> ChatLog:
        chat = self.chats.get(user["id"])
        if chat is None:
            chat = ChatLog(chat=_private_chat_object(user))
            self.chats[user["id"]] = chat
        return chat

    def add_channel(self, chat_id: int, title: str, username: str | None = None, *,
                    invite_only: bool = False) -> dict[str, Any]:  # fmt: skip
        """A channel where the bot is administrator (an existing one is renamed); returns its Chat.

        An ``invite_only`` (private) channel has no username and is joined only through an invite link.
        """
        if not str(chat_id).startswith("-100") or len(str(chat_id)) < 6:
            raise BadRequest("Bad Request: a channel's chat_id looks like -100xxxxxxxxxx")
        if not title.strip():
            raise BadRequest("Bad Request: CHAT_TITLE_EMPTY")
        if len(title) > 128:
            raise BadRequest("Bad Request: CHAT_TITLE_TOO_LONG")
        if username is not None and not CHANNEL_USERNAME_RULE.fullmatch(username):
            raise BadRequest("Bad Request: USERNAME_INVALID")
        if username is not None and invite_only:
            raise BadRequest("Bad Request: a private channel has no username")
        owners = {c.chat["id"] for c in self.chats.values() if username and c.is_channel
                  and str(c.chat.get("username", "")).lower() == username.lower()}  # fmt: skip
        if owners - {chat_id}:
            raise BadRequest("Bad Request: USERNAME_OCCUPIED")
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.chats[chat_id] = ChatLog(chat={}, members={BOT_ID: "administrator"})
        chat.chat = {"id": chat_id, "type": "channel", "title": title, **({"username": username} if username else {})}
        chat.invite_only = invite_only
        return chat.chat

    async def user_joins(self, user_id: int, chat_id: int, invite_link: str | None = None,
                         **profile: Any) -> dict[str, Any]:  # fmt: skip
        """A user joins a channel (through ``invite_link``); see :meth:`Access.join`."""
        return await self.access.join(user_id, chat_id, invite_link, **profile)

    async def user_leaves(self, user_id: int, chat_id: int, **profile: Any) -> dict[str, Any]:
        """A user leaves a channel; returns ``{"update_id": int | None, "status": "left"}``."""
        return await self.access.leave(user_id, chat_id, **profile)

    async def user_pays(self, user_id: int, **invoice: Any) -> dict[str, Any]:
        """A user pays an invoice; see :meth:`Payments.pay`."""
        return await self.payments.pay(user_id, **invoice)

    async def user_sends_text(self, user_id: int, text: str, *, forwarded_from: int | None = None,
                              reply_to_message_id: int | None = None, **profile: Any) -> dict[str, Any]:  # fmt: skip
        """A user writes ``text`` to the bot in their private chat (or forwards another user's message with it, or
        answers one of the chat's messages); returns the update."""
        if not text:
            raise BadRequest("Bad Request: message text is empty")
        user = self.user(user_id, profile)
        self.blocked.discard(user_id)
        chat = self.private_chat(user)
        replied = chat.messages.get(reply_to_message_id) if reply_to_message_id is not None else None
        if reply_to_message_id is not None and replied is None:
            raise BadRequest("Bad Request: message to be replied not found")
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
            forward_origin=MessageOriginUser(
                date=datetime.now(UTC),
                sender_user=User(id=forwarded_from, is_bot=False, first_name=f"User {forwarded_from}"),
            )
            if forwarded_from
            else None,
            reply_to_message=Message.model_validate(replied) if replied is not None else None,
        )
        chat.next_message_id += 1
        dumped = message.model_dump(mode="json", exclude_none=True, by_alias=True)
        chat.messages[message.message_id] = dumped
        await self.append(chat, "user_message", {"message_id": message.message_id, "text": text})
        return await self.enqueue(lambda update_id: Update(update_id=update_id, message=message))

    async def user_presses(self, user_id: int, *, message_id: int, callback_data: str, chat_id: int | None = None,
                           forge: bool = False, **profile: Any) -> dict[str, Any]:  # fmt: skip
        """A user presses an inline button (on a channel post, too); unless ``forge``, the button must exist."""
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
        user = self.user(user_id, profile)
        query_id = f"{user_id}{len(self.callback_queries) + 1:08d}"
        self.callback_queries[query_id] = {"id": query_id, "user_id": user_id, "chat_id": chat.chat["id"],
                                           "message_id": message_id, "data": callback_data, "answered": False,
                                           "answer": None}  # fmt: skip
        await self.append(chat, "user_press", {"message_id": message_id, "callback_data": callback_data,
                                                "user_id": user_id})  # fmt: skip
        query = CallbackQuery(
            id=query_id,
            from_user=User.model_validate(user),
            chat_instance=f"ci{chat.chat['id']}",
            message=Message.model_validate(message),
            data=callback_data,
        )
        update = await self.enqueue(lambda update_id: Update(update_id=update_id, callback_query=query))
        return {**update, "callback_query_id": query_id}

    async def enqueue(self, build: Callable[[int], Update]) -> dict[str, Any]:
        """Queue the update; an opt-in type the bot has not asked for is never created (``update_id`` None)."""
        update = build(self.next_update_id).model_dump(mode="json", exclude_none=True, by_alias=True)
        if _update_type(update) in OPT_IN_UPDATES and not _allowed(update, self.allowed_updates):
            return {"update_id": None}
        self.next_update_id += 1
        self.updates.append(update)
        self.history[update["update_id"]] = update
        if len(self.history) > UPDATE_HISTORY:
            del self.history[next(iter(self.history))]
        await self.notify()
        return {"update_id": update["update_id"]}

    async def redeliver(self, update_id: int) -> None:
        """Queue an exact copy of an earlier update, same ``update_id``, as Telegram resends one it thinks lost.

        The copy goes to the front of the pending queue and stays there until delivered, even if the
        bot's offset is already past its id: Telegram would resend an update the bot took but did not
        confirm, and a test wants the duplicate delivered whatever the offset. If the original is still
        pending too, the bot gets it twice.
        """
        self.updates.insert(0, copy.deepcopy(self.history[update_id]))
        self.redelivered.add(update_id)
        await self.notify()

    async def notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, ready: Callable[[], bool], within: float) -> bool:
        """Wait until ``ready()`` holds, ``within`` seconds pass or the emulator stops; returns ``ready()``."""
        deadline = time.monotonic() + within
        while not ready():
            left = deadline - time.monotonic()
            if left <= 0 or self._closing:
                return False
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=min(left, 0.5))
        return True

    async def _record(self, chat: ChatLog, kind: str, message: dict[str, Any], params: dict[str, Any]) -> None:
        # ``text`` is what the user reads; ``html`` is what the bot sent, when it sent HTML.
        html = params.get("text") if (params.get("parse_mode") or "").upper() == "HTML" else None
        await self.append(chat, kind, {"message_id": message["message_id"], "text": message.get("text"),
                                        "html": html, "entities": message.get("entities", []),
                                        "buttons": buttons_of(message)})  # fmt: skip

    async def append(self, chat: ChatLog, kind: str, entry: dict[str, Any]) -> None:
        self._transcript_seq += 1
        chat.transcript.append({"seq": self._transcript_seq, "kind": kind, "at": time.time(), **entry})
        await self.notify()

    # Webhook delivery ----------------------------------------------------------------------------------

    async def _deliver_webhooks(self) -> None:
        """Deliver pending updates as Telegram does: up to ``max_connections`` at once, one sender's in order."""
        in_flight: dict[int, asyncio.Task[None]] = {}  # by id(update)
        busy: set[str] = set()  # senders with an update in flight
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=MAX_WEBHOOK_CONNECTIONS)) as session:
            while not self._closing:
                webhook = self.webhook
                started = False
                if webhook is not None:
                    held: set[str] = set()  # a sender whose earlier update waits holds back its later ones
                    for update in list(self.updates):
                        if len(in_flight) >= webhook["max_connections"]:
                            break
                        if id(update) in in_flight or not _allowed(update, webhook["allowed_updates"]):
                            continue
                        sender = _sender(update)
                        if sender in busy or sender in held:
                            held.add(sender)
                            continue
                        busy.add(sender)
                        in_flight[id(update)] = asyncio.create_task(self._deliver(session, webhook, update))
                        in_flight[id(update)].add_done_callback(_release(in_flight, id(update), busy, sender))
                        started = True
                if not started:
                    async with self._changed:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._changed.wait(), timeout=0.5)
            for task in in_flight.values():
                task.cancel()

    async def _deliver(self, session: aiohttp.ClientSession, webhook: dict[str, Any], update: dict[str, Any]) -> None:
        headers = {"Content-Type": "application/json"}
        if webhook["secret_token"]:
            headers["X-Telegram-Bot-Api-Secret-Token"] = str(webhook["secret_token"])
        self.delivering.add(update["update_id"])
        try:
            async with session.post(webhook["url"], data=json.dumps(update), headers=headers,
                                    timeout=aiohttp.ClientTimeout(total=10)) as response:  # fmt: skip
                delivered = 200 <= response.status < 300
                error = f"Wrong response from the webhook: {response.status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            delivered, error = False, f"Connection failed: {exc}"
        finally:
            self.delivering.discard(update["update_id"])
        if delivered:
            # By identity: a redelivered copy shares its update_id with the original.
            self.updates = [u for u in self.updates if u is not update]
            self.redelivered.discard(update["update_id"])
        else:
            webhook["last_error"] = (int(time.time()), error)
            await asyncio.sleep(0.5)
        # The update left the queue, or may be retried: the loop looks again either way.
        await self.notify()

    # Control API ---------------------------------------------------------------------------------------

    async def _control_send_text(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        forwarded, replied = body.get("forwarded_from"), body.get("reply_to_message_id")
        result = await self.user_sends_text(int(request.match_info["user_id"]), str(body.get("text", "")),
                                            forwarded_from=int(forwarded) if forwarded else None,
                                            reply_to_message_id=int(replied) if replied else None,
                                            **profile_of(body))  # fmt: skip
        return ok_response(result)

    async def _control_press(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        try:
            result = await self.user_presses(
                int(request.match_info["user_id"]),
                message_id=int(body["message_id"]),
                callback_data=str(body["callback_data"]),
                chat_id=int(body["chat_id"]) if body.get("chat_id") is not None else None,
                forge=bool(body.get("forge", False)),
                **profile_of(body),
            )
        except (KeyError, ValueError):
            return error_response(400, "Bad Request: message_id and callback_data are required")
        return ok_response(result)

    async def _control_block(self, request: web.Request) -> web.Response:
        self.blocked.add(int(request.match_info["user_id"]))
        return ok_response(True)

    async def _control_add_channel(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        username = body.get("username")
        result = self.add_channel(int(body["chat_id"]), str(body["title"]), str(username) if username else None,
                                  invite_only=body.get("private") is True)  # fmt: skip
        return ok_response(result)

    async def _control_callback(self, request: web.Request) -> web.Response:
        """One callback query and the bot's answer; ``wait`` holds the request until it is answered."""
        query = self.callback_queries.get(request.match_info["callback_query_id"])
        if query is None:
            return not_found("callback query")
        await self.wait_for(lambda: bool(query["answered"]), min(float(request.query.get("wait", 0)), 60.0))
        return ok_response(query)

    async def _control_transcript(self, request: web.Request) -> web.Response:
        chat_id = int(request.match_info["chat_id"])
        after = int(request.query.get("after", 0))

        def entries() -> list[dict[str, Any]]:
            chat = self.chats.get(chat_id)
            return [e for e in chat.transcript if e["seq"] > after] if chat else []

        await self.wait_for(lambda: bool(entries()), min(float(request.query.get("wait", 0)), 60.0))
        return ok_response(entries())

    async def _control_messages(self, request: web.Request) -> web.Response:
        chat = self.chats.get(int(request.match_info["chat_id"]))
        return ok_response(list(chat.messages.values()) if chat else [])

    async def _control_add_fault(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        methods = body.get("methods")
        self.faults.append(Fault(remaining=int(body.get("count", 1)), error_code=int(body.get("error_code", 429)),
                                 retry_after=int(body.get("retry_after", 1)),
                                 methods=frozenset(methods) if methods else None,
                                 delay=float(body.get("delay", 0))))  # fmt: skip
        return ok_response(True)

    async def _control_clear_faults(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return ok_response(True)

    async def _control_limits(self, request: web.Request) -> web.Response:
        """Switch Telegram's flood control on (with its limits, counted afresh) or off (``"enabled": false``)."""
        body = await json_body(request)
        if body.get("enabled", True) is False:
            self.flood_limits = None
            return ok_response(True)
        per_second, interval = int(body.get("per_second", 30)), float(body.get("per_chat_interval", 1.0))
        if per_second < 1 or interval < 0:
            return error_response(400, "Bad Request: per_second must be positive, per_chat_interval not negative")
        self.flood_limits = FloodLimits(per_second=per_second, per_chat_interval=interval)
        return ok_response(True)

    async def _control_calls(self, request: web.Request) -> web.Response:
        return ok_response(self.calls)

    async def _control_updates(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "result": {"pending": len(self.updates),
                                                         "next_update_id": self.next_update_id}})  # fmt: skip

    async def _control_redeliver(self, request: web.Request) -> web.Response:
        update_id = int(request.match_info["update_id"])
        if update_id not in self.history:
            return not_found("update")
        await self.redeliver(update_id)
        return ok_response({"update_id": update_id, "type": _update_type(self.history[update_id])})


_last_fresh_update_id = 0


def _fresh_update_id() -> int:
    """A first update id above any handed out before: milliseconds since 2026, never repeating in-process."""
    global _last_fresh_update_id
    _last_fresh_update_id = max(int(time.time() * 1000) - UPDATE_ID_EPOCH_MS, _last_fresh_update_id + 1_000_000, 1)
    return _last_fresh_update_id


@web.middleware
async def _control_input_errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                                ) -> web.StreamResponse:  # fmt: skip
    """Refused or malformed control requests (ids that are not numbers, missing fields) get a 400, never a 500."""
    try:
        return await handler(request)
    except BadRequest as bad:
        return error_response(bad.error_code, bad.description)
    except (ValueError, KeyError, TypeError) as error:
        if not request.path.startswith("/control/"):
            raise
        return error_response(400, f"Bad Request: {error}")


def _private_chat_object(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": user["id"], "type": "private", "first_name": user["first_name"],
            **({"username": user["username"]} if user.get("username") else {})}  # fmt: skip


def _sent_by_bot(message: dict[str, Any]) -> bool:
    """The bot may edit its own messages; in a channel it posts as the channel, so every post is its own."""
    return bool(message.get("from", {}).get("id") == BOT_ID or message["chat"]["type"] == "channel")


def _update_type(update: dict[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


def _release(in_flight: dict[int, Any], key: int, busy: set[str], sender: str) -> Callable[[object], None]:
    def release(_: object) -> None:
        in_flight.pop(key, None)
        busy.discard(sender)

    return release


def _sender(update: dict[str, Any]) -> str:
    """Whose update this is (the user, else the chat): Telegram delivers one sender's updates in order."""
    body = update.get(_update_type(update))
    if isinstance(body, dict):
        for key in ("from", "user", "chat"):
            who = body.get(key)
            if isinstance(who, dict) and "id" in who:
                return f"{key}:{who['id']}"
    return f"update:{update.get('update_id')}"


def _allowed(update: dict[str, Any], allowed_updates: list[str] | None) -> bool:
    """Telegram's default (no list) is every update type except these three."""
    if not allowed_updates:
        return _update_type(update) not in {"chat_member", "message_reaction", "message_reaction_count"}
    return _update_type(update) in allowed_updates


def _attach_uploads(params: dict[str, Any], uploads: dict[str, Upload]) -> None:
    """Put file parts where the Bot API takes them: a part named like the parameter, or ``attach://<part>``."""
    for key in FILE_PARAMS:
        value = params.get(key)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.pop(value.removeprefix("attach://"), None)
            if upload is None:
                raise BadRequest("Bad Request: wrong file identifier/HTTP URL specified")
            params[key] = upload
        elif key in uploads:
            params[key] = uploads.pop(key)
    # The others stay for "attach://<part>" inside JSON parameters (media groups, InputMedia, paid media)...
    params[ATTACHMENTS] = dict(uploads)
    # ... and are read as text, as a value sent in a file.
    for key, upload in uploads.items():
        params[key] = upload.content.decode(errors="replace")


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
            uploads: dict[str, Upload] = {}
            for key, value in form.items():
                if isinstance(value, str):
                    params[key] = value
                elif isinstance(value, bytes | bytearray):
                    params[key] = value.decode(errors="replace")
                else:
                    uploads[key] = Upload(value.filename or key, value.content_type, value.file.read())
            _attach_uploads(params, uploads)
    for key in JSON_PARAMS & params.keys():
        if isinstance(params[key], str):
            try:
                params[key] = json.loads(params[key])
            except json.JSONDecodeError:
                raise BadRequest(f"Bad Request: can't parse {key} JSON object") from None
    return params
