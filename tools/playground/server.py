"""The playground's web server: one static page, and a small JSON API over the emulator's control API.

Everything the page does goes through here, for the person it says it is (one of :class:`Persona`):

- ``GET /api/config``: the personas to choose from (fans and the configured admins).
- ``GET /api/events?user=ID``: Server-Sent Events: ``chats`` (the chats the person sees: the private chat with
  Diana, the community channels, and channels joined through an invite link), then a ``chat`` event with a whole
  chat view (:func:`tools.playground.views.chat_view`) whenever that chat changes.
- ``GET /api/chats/{chat_id}?user=ID``: one chat view, without waiting.
- ``POST /api/messages`` {"user", "text", "reply_to_message_id"?}: the person writes to Diana (commands too),
  answering a message of their chat with Diana when ``reply_to_message_id`` is given.
- ``POST /api/media`` {"user", "type", "file_name", "content_base64", "mime_type"?, "caption"?}: the person sends
  Diana a file (``type``: photo, video, animation, voice, audio or document), the caption under it; within
  Telegram's limits (a photo 10 MB, any other file 50 MB).
- ``POST /api/albums`` {"user", "items": [{"type", "file_name", "content_base64"}, ...], "caption"?}: the person
  sends an album of 2 to 10 photos and videos (or only audio, or only documents), the caption on its first item; at
  most 40 MB in all (what the emulator takes in one request).
- ``POST /api/press`` {"user", "chat_id", "message_id", "data"}: presses an inline button; answers with the bot's
  answer to the callback query (its toast or alert), once the bot gave it.
- ``POST /api/pay`` {"user", "message_id"} or {"user", "invoice_link"}: pays the invoice in that message, or the
  invoice link (``https://t.me/$...``, what ``createInvoiceLink`` returns) a button of the person's chat with Diana
  opens, with Stars, through the emulator's real flow (the bot answers the pre-checkout query; on ``ok`` a
  successful payment follows; a link with a period starts a Stars subscription).
- ``POST /api/paid_media`` {"user", "chat_id", "message_id"}: buys the paid media of a message.
- ``POST /api/join`` {"user", "invite_link"} or {"user", "chat_id"}: joins a channel (an invite link the bot sent).
- ``GET /api/files/{file_id}?user=ID``: a file the person can see, fetched with ``getFile`` and the file URL (the
  page never holds the bot's token); paid media the person has not bought are not served.

Bad input is refused with a 400 and ``{"ok": false, "error": ...}`` before anything reaches the emulator; what the
emulator itself refuses comes back the same way, with Telegram's words.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Final, Literal

import aiohttp
from aiohttp import web

from tools.emulator.files import KINDS, MAX_PHOTO_UPLOAD, MAX_UPLOAD
from tools.emulator.markup import MAX_CALLBACK_DATA, MAX_CAPTION, MAX_TEXT
from tools.playground.views import INVOICE_LINK, chat_view, file_ids, invoice_link_urls, with_invoice_links

log = logging.getLogger("diana.playground")

STATIC: Final = Path(__file__).resolve().parent / "static"
STATIC_FILES: Final = frozenset({"app.js", "style.css"})
# The fans anyone can play; fixed, so a journey goes on where it was after a restart of `diana play`.
FANS: Final = ((5_000_001, "Lucía"), (5_000_002, "Mateo"))
# How long the page's button press waits for the bot's answer, and an SSE stream between keep-alives.
ANSWER_WAIT: Final = 15.0
KEEPALIVE: Final = 15.0
# The emulator's transcript long poll: held at most this long, then asked again.
POLL_WAIT: Final = 20.0
MEMBER: Final = frozenset({"member", "administrator", "creator", "restricted"})
LOOPBACK_NAMES: Final = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
Role = Literal["fan", "admin"]
# A JSON request's body at most; files come base64-encoded in JSON (a page of another site cannot send JSON), so
# the media routes take up to their largest file as base64.
MAX_BODY: Final = 64 * 1024
MAX_ALBUM: Final = 10
# An album travels to the emulator as one JSON request (which takes 60 MB): its files together at most this.
MAX_ALBUM_BYTES: Final = 40 * 1024 * 1024
MAX_FILE_NAME: Final = 255
MIME_TYPE: Final = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*")
# Telegram's clients put photos and videos together in an album; audio and documents only with their own kind.
ALBUM_MIXES: Final = (frozenset({"photo", "video"}), frozenset({"audio"}), frozenset({"document"}))


class Refused(Exception):
    """A request the playground refuses (HTTP 400): nothing was sent to the emulator."""


class EmulatorRefused(Exception):
    """The emulator refused a request (Telegram's words in ``description``)."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


@dataclass(frozen=True)
class Persona:
    """Someone the page can be: a fan, or an admin (an id of ``ADMIN_IDS``)."""

    user_id: int
    first_name: str
    role: Role = "fan"
    username: str | None = None
    language_code: str = "es"

    def profile(self) -> dict[str, Any]:
        """The Telegram profile each control request carries."""
        profile: dict[str, Any] = {"first_name": self.first_name, "language_code": self.language_code}
        if self.username:
            profile["username"] = self.username
        return profile

    def view(self) -> dict[str, Any]:
        return {"id": self.user_id, "name": self.first_name, "role": self.role}


@dataclass(frozen=True)
class Channel:
    """A channel the page shows: to everyone (``members_only`` False: a community channel) or to its members."""

    chat_id: int
    members_only: bool = False


def default_personas(admin_ids: Iterable[int]) -> list[Persona]:
    """The fixed fans, then one admin per configured admin id."""
    fans = [Persona(user_id, name) for user_id, name in FANS]
    admins = sorted(set(admin_ids) - {user_id for user_id, _ in FANS})
    names = ["Admin"] if len(admins) == 1 else [f"Admin {number}" for number in range(1, len(admins) + 1)]
    return fans + [Persona(user_id, name, "admin") for user_id, name in zip(admins, names, strict=True)]


@dataclass
class ChatFeed:
    """One chat's transcript as the playground follows it: a change counter, and what the transcript alone says
    (which invoice messages carry which payload, and which payloads were paid)."""

    chat_id: int
    seq: int = 0
    version: int = 0
    invoices: dict[int, str] = field(default_factory=dict)
    paid_payloads: set[str] = field(default_factory=set)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def take(self, entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            self.seq = max(self.seq, int(entry["seq"]))
            if entry["kind"] == "bot_invoice":
                self.invoices[int(entry["message_id"])] = str(entry["payload"])
            elif entry["kind"] == "user_payment":
                self.paid_payloads.add(str(entry["invoice_payload"]))
        self.version += 1

    @property
    def paid_invoices(self) -> frozenset[int]:
        return frozenset(message_id for message_id, payload in self.invoices.items() if payload in self.paid_payloads)


class Playground:
    """The playground's server for one emulator. Start with :meth:`start`, stop with :meth:`stop`."""

    def __init__(self, emulator_url: str, bot_token: str, personas: Sequence[Persona],
                 channels: Sequence[Channel]) -> None:  # fmt: skip
        if not personas:
            raise ValueError("the playground needs at least one persona")
        self.emulator_url = emulator_url.rstrip("/")
        self.bot_token = bot_token
        self.personas = {persona.user_id: persona for persona in personas}
        self.channels = {channel.chat_id: channel for channel in channels}
        self.feeds: dict[int, ChatFeed] = {}
        self.port = 0
        self._changed = asyncio.Condition()
        self._closing = asyncio.Event()
        self._titles: dict[int, str] = {}
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.app = self._build_app()

    # Lifecycle -------------------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port); returns the page's address."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=POLL_WAIT + 30))
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            await self._session.close()
            raise
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self.url

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def stop(self) -> None:
        self._closing.set()
        async with self._changed:
            self._changed.notify_all()
        for feed in self.feeds.values():
            if feed.task is not None:
                feed.task.cancel()
        await asyncio.gather(*(feed.task for feed in self.feeds.values() if feed.task), return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[_refusals])
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/api/config", self._config)
        app.router.add_get("/api/events", self._events)
        app.router.add_get("/api/chats/{chat_id}", self._chat)
        app.router.add_post("/api/messages", self._send)
        app.router.add_post("/api/media", self._send_media)
        app.router.add_post("/api/albums", self._send_album)
        app.router.add_post("/api/press", self._press)
        app.router.add_post("/api/pay", self._pay)
        app.router.add_post("/api/paid_media", self._buy_paid_media)
        app.router.add_post("/api/join", self._join)
        app.router.add_get("/api/files/{file_id}", self._file)
        return app

    # Talking to the emulator -----------------------------------------------------------------------------

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("the playground is not started")
        return self._session

    async def control(self, method: str, path: str, body: dict[str, Any] | None = None,
                      params: dict[str, Any] | None = None, form: aiohttp.FormData | None = None) -> Any:  # fmt: skip
        """A call of the emulator's control API (a JSON body, or a multipart ``form``); its ``result``, or
        :class:`EmulatorRefused`."""
        async with self.session.request(method, self.emulator_url + path, json=body, params=params,
                                        data=form) as response:  # fmt: skip
            answer = await response.json()
        if not answer.get("ok"):
            raise EmulatorRefused(response.status, str(answer.get("description", "refused")))
        return answer["result"]

    async def bot_api(self, method: str, **params: Any) -> Any:
        """A Bot API call as the bot (what the page must not do itself: it holds no token)."""
        async with self.session.post(f"{self.emulator_url}/bot{self.bot_token}/{method}", json=params) as response:
            answer = await response.json()
        if not answer.get("ok"):
            raise EmulatorRefused(response.status, str(answer.get("description", "refused")))
        return answer["result"]

    # Chats and their changes -----------------------------------------------------------------------------

    async def feed(self, chat_id: int) -> ChatFeed:
        """The chat's feed: its transcript so far read, and followed from then on."""
        feed = self.feeds.get(chat_id)
        if feed is None:
            feed = self.feeds[chat_id] = ChatFeed(chat_id)
            feed.task = asyncio.create_task(self._follow(feed), name=f"playground-feed-{chat_id}")
        await feed.ready.wait()
        return feed

    async def _follow(self, feed: ChatFeed) -> None:
        path = f"/control/chats/{feed.chat_id}/transcript"
        while not self._closing.is_set():
            # The first read takes what is there already; then each waits for more.
            wait = POLL_WAIT if feed.ready.is_set() else 0
            try:
                entries = await self.control("GET", path, params={"after": feed.seq, "wait": wait})
            except (aiohttp.ClientError, TimeoutError, EmulatorRefused, json.JSONDecodeError) as error:
                log.warning("playground: the emulator's transcript of %s is unreachable: %s", feed.chat_id, error)
                feed.ready.set()  # shown as it is meanwhile
                await asyncio.sleep(1.0)
                continue
            if entries:
                feed.take(entries)
            if not feed.ready.is_set():
                feed.ready.set()
            elif entries:
                await self.changed()

    async def changed(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _wait_for_change(self, seen: Callable[[], bool], within: float) -> None:
        """Until ``seen()`` turns False (something changed), ``within`` seconds pass or the playground stops."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(lambda: not seen() or self._closing.is_set())

    async def title(self, chat_id: int) -> str:
        if chat_id not in self._titles:
            chat = await self.bot_api("getChat", chat_id=chat_id)
            self._titles[chat_id] = str(chat.get("title") or chat.get("first_name") or chat_id)
        return self._titles[chat_id]

    async def visible_chats(self, persona: Persona) -> list[dict[str, Any]]:
        """The private chat with Diana, the community channels, and the channels the person is a member of."""
        chats = [{"id": persona.user_id, "kind": "private", "title": "Diana"}]
        for channel in self.channels.values():
            if channel.members_only and not await self._is_member(channel.chat_id, persona.user_id):
                continue
            chats.append({"id": channel.chat_id, "kind": "channel", "title": await self.title(channel.chat_id),
                          "members_only": channel.members_only})  # fmt: skip
        return chats

    async def _is_member(self, chat_id: int, user_id: int) -> bool:
        try:
            member = await self.bot_api("getChatMember", chat_id=chat_id, user_id=user_id)
        except EmulatorRefused:
            return False
        return member.get("status") in MEMBER

    async def chat_items(self, persona: Persona, chat_id: int) -> list[dict[str, Any]]:
        """The chat as the person sees it now (paid media they have not bought as previews)."""
        messages: list[dict[str, Any]] = await self.control("GET", f"/control/chats/{chat_id}/messages")
        seen = []
        for message in messages:
            if "paid_media" in message:
                message = await self.control(
                    "GET", f"/control/users/{persona.user_id}/chats/{chat_id}/messages/{message['message_id']}"
                )
            seen.append(message)
        items = chat_view(seen, paid_invoices=(await self.feed(chat_id)).paid_invoices)
        if not invoice_link_urls(items):
            return items
        # A button that opens an invoice link shows what it sells (as a Telegram app does), and a subscription the
        # person has running as paid.
        links = await self.control("GET", "/control/invoice_links")
        subscriptions = await self.control("GET", "/control/subscriptions")
        running = {s["invoice_link"] for s in subscriptions if s["user_id"] == persona.user_id and s["active"]}
        return with_invoice_links(items, {link["invoice_link"]: link for link in links}, running)

    async def _chat_event(self, persona: Persona, chat_id: int) -> dict[str, Any]:
        return {"chat_id": chat_id, "items": await self.chat_items(persona, chat_id)}

    async def _visible(self, persona: Persona, chat_id: int) -> bool:
        """The person's own private chat, a community channel, or a channel they are a member of."""
        if chat_id == persona.user_id:
            return True
        channel = self.channels.get(chat_id)
        if channel is None:
            return False
        return not channel.members_only or await self._is_member(chat_id, persona.user_id)

    # The page ------------------------------------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            raise web.HTTPNotFound()
        return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})

    async def _config(self, request: web.Request) -> web.Response:
        return _ok({"personas": [persona.view() for persona in self.personas.values()]})

    async def _chat(self, request: web.Request) -> web.Response:
        persona = self._persona(request.query.get("user"))
        chat_id = _int(request.match_info["chat_id"], "chat_id")
        if not await self._visible(persona, chat_id):
            raise Refused("that chat is not one this user sees")
        return _ok(await self._chat_event(persona, chat_id))

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """The person's chats, then each chat again whenever it changes (Server-Sent Events)."""
        persona = self._persona(request.query.get("user"))
        followed = [persona.user_id, *self.channels]
        feeds = [await self.feed(chat_id) for chat_id in followed]
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                               "X-Accel-Buffering": "no"})  # fmt: skip
        await response.prepare(request)
        sent: dict[int, int] = {}
        shown: list[dict[str, Any]] | None = None
        try:
            while not self._closing.is_set():
                versions = {feed.chat_id: feed.version for feed in feeds}
                chats = await self.visible_chats(persona)
                if chats != shown:
                    await _event(response, "chats", chats)
                    shown = chats
                for chat in chats:
                    if sent.get(chat["id"]) != versions[chat["id"]]:
                        await _event(response, "chat", await self._chat_event(persona, chat["id"]))
                        sent[chat["id"]] = versions[chat["id"]]
                unchanged = partial(_same_versions, feeds, versions)
                await self._wait_for_change(unchanged, KEEPALIVE)
                if unchanged():
                    await response.write(b": keep-alive\n\n")
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass  # the page went away
        except (aiohttp.ClientError, TimeoutError, EmulatorRefused) as error:
            # The stream ends; the page's EventSource connects again and gets every chat afresh.
            log.warning("playground: events for %s stopped: %s", persona.user_id, error)
        return response

    # What the person does ---------------------------------------------------------------------------------

    async def _send(self, request: web.Request) -> web.Response:
        body = await _body(request)
        persona = self._persona(body.get("user"))
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise Refused("text must be a non-empty string")
        if len(text) > MAX_TEXT:
            raise Refused(f"text is longer than Telegram's {MAX_TEXT} characters")
        reply: dict[str, Any] = {}
        if body.get("reply_to_message_id") is not None:
            reply_to = _int(body["reply_to_message_id"], "reply_to_message_id")
            await self._in_private_chat(persona, reply_to)
            reply = {"reply_to_message_id": reply_to}
        result = await self.control("POST", f"/control/users/{persona.user_id}/messages",
                                    {"text": text, **reply, **persona.profile()})  # fmt: skip
        return _ok({"update_id": result["update_id"]})

    async def _in_private_chat(self, persona: Persona, message_id: int) -> None:
        """A message of the person's chat with Diana (the only one they answer); refused otherwise."""
        messages: list[dict[str, Any]] = await self.control("GET", f"/control/chats/{persona.user_id}/messages")
        if not any(message["message_id"] == message_id for message in messages):
            raise Refused("no such message in this user's chat with Diana to reply to")

    async def _send_media(self, request: web.Request) -> web.Response:
        body = await _body(request, limit=_base64_length(MAX_UPLOAD) + MAX_BODY)
        persona = self._persona(body.get("user"))
        kind = _kind(body.get("type"), "type")
        file_name = _file_name(body.get("file_name"), "file_name")
        content = _content(body.get("content_base64"), kind, "content_base64")
        caption = _caption(body.get("caption"))
        mime_type = body.get("mime_type")
        content_type = mime_type if isinstance(mime_type, str) and MIME_TYPE.fullmatch(mime_type) else None
        # Multipart to the emulator: a 50 MB file as base64 in JSON would be more than it takes in one request.
        form = aiohttp.FormData({"type": kind, "file_name": file_name, **persona.profile()})
        if caption:
            form.add_field("caption", caption)
        if content_type:
            form.add_field("mime_type", content_type)
        form.add_field(kind, content, filename=file_name, content_type=content_type or "application/octet-stream")
        result = await self.control("POST", f"/control/users/{persona.user_id}/media", form=form)
        return _ok({"update_id": result["update_id"], "message_id": result["message_id"]})

    async def _send_album(self, request: web.Request) -> web.Response:
        body = await _body(request, limit=_base64_length(MAX_ALBUM_BYTES) + MAX_BODY)
        persona = self._persona(body.get("user"))
        items = body.get("items")
        if not isinstance(items, list) or not 2 <= len(items) <= MAX_ALBUM:
            raise Refused(f"items must be a list of 2 to {MAX_ALBUM} files (an album)")
        sent, total = [], 0
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise Refused(f"items[{index}] must be an object with type, file_name and content_base64")
            kind = _kind(item.get("type"), f"items[{index}].type")
            file_name = _file_name(item.get("file_name"), f"items[{index}].file_name")
            content = _content(item.get("content_base64"), kind, f"items[{index}].content_base64")
            total += len(content)
            sent.append({"type": kind, "file_name": file_name,
                         "content_base64": base64.b64encode(content).decode()})  # fmt: skip
        kinds = frozenset(item["type"] for item in sent)
        if not any(kinds <= mix for mix in ALBUM_MIXES):
            raise Refused("an album holds photos and videos, or only audio, or only documents "
                          f"(not {', '.join(sorted(kinds))})")  # fmt: skip
        if total > MAX_ALBUM_BYTES:
            raise Refused(f"the album's files are {_megabytes(total)} together: at most "
                          f"{_megabytes(MAX_ALBUM_BYTES)} in one album here")  # fmt: skip
        caption = _caption(body.get("caption"))
        result = await self.control("POST", f"/control/users/{persona.user_id}/albums", {
            "items": sent, **({"caption": caption} if caption else {}), **persona.profile()})  # fmt: skip
        return _ok({"update_ids": result["update_ids"], "message_ids": result["message_ids"]})

    async def _press(self, request: web.Request) -> web.Response:
        body = await _body(request)
        persona = self._persona(body.get("user"))
        chat_id = _int(body.get("chat_id"), "chat_id")
        message_id = _int(body.get("message_id"), "message_id")
        data = body.get("data")
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
            raise Refused(f"data must be a button's callback data (1 to {MAX_CALLBACK_DATA} bytes)")
        if not await self._visible(persona, chat_id):
            raise Refused("that chat is not one this user sees")
        await self._has_button(chat_id, message_id, data)
        pressed = await self.control("POST", f"/control/users/{persona.user_id}/press", {
            "message_id": message_id, "callback_data": data, "chat_id": chat_id, **persona.profile()})  # fmt: skip
        query = await self.control("GET", f"/control/callbacks/{pressed['callback_query_id']}",
                                   params={"wait": ANSWER_WAIT})  # fmt: skip
        answer = query["answer"] if query["answered"] else None
        return _ok({"answered": bool(query["answered"]), "answer": answer})

    async def _has_button(self, chat_id: int, message_id: int, data: str) -> None:
        messages: list[dict[str, Any]] = await self.control("GET", f"/control/chats/{chat_id}/messages")
        message = next((m for m in messages if m["message_id"] == message_id), None)
        if message is None:
            raise Refused("no such message in that chat")
        rows = message.get("reply_markup", {}).get("inline_keyboard", [])
        if data not in [button.get("callback_data") for row in rows for button in row]:
            raise Refused("that message has no button with that data")

    async def _pay(self, request: web.Request) -> web.Response:
        body = await _body(request)
        persona = self._persona(body.get("user"))
        if (body.get("message_id") is None) == (body.get("invoice_link") is None):
            raise Refused("give exactly one of message_id (an invoice message) and invoice_link (an invoice link)")
        invoice: dict[str, Any]
        if body.get("invoice_link") is not None:
            link = body["invoice_link"]
            if not isinstance(link, str) or not INVOICE_LINK.fullmatch(link):
                raise Refused("invoice_link must be a Telegram invoice link (https://t.me/$...)")
            await self._has_invoice_link(persona, link)
            invoice = {"invoice_link": link}
        else:
            invoice = {"message_id": _int(body.get("message_id"), "message_id")}
        result = await self.control("POST", f"/control/users/{persona.user_id}/pay",
                                    {**invoice, **persona.profile()})  # fmt: skip
        await self.changed()
        return _ok({"ok": bool(result["ok"]), "answered": bool(result["answered"]),
                    "error_message": result["error_message"]})  # fmt: skip

    async def _has_invoice_link(self, persona: Persona, link: str) -> None:
        """An invoice link a button of the person's chat with Diana opens; refused otherwise."""
        messages: list[dict[str, Any]] = await self.control("GET", f"/control/chats/{persona.user_id}/messages")
        urls = {button.get("url") for message in messages
                for row in message.get("reply_markup", {}).get("inline_keyboard", []) for button in row}  # fmt: skip
        if link not in urls:
            raise Refused("no button of this user's chat with Diana opens that invoice link")

    async def _buy_paid_media(self, request: web.Request) -> web.Response:
        body = await _body(request)
        persona = self._persona(body.get("user"))
        chat_id = _int(body.get("chat_id"), "chat_id")
        message_id = _int(body.get("message_id"), "message_id")
        if not await self._visible(persona, chat_id):
            raise Refused("that chat is not one this user sees")
        result = await self.control("POST", f"/control/users/{persona.user_id}/paid_media",
                                    {"message_id": message_id, "chat_id": chat_id, **persona.profile()})  # fmt: skip
        # A purchase in a channel leaves no trace in its transcript: the buyer's view changes all the same.
        (await self.feed(chat_id)).version += 1
        await self.changed()
        return _ok({"star_count": result["star_count"]})

    async def _join(self, request: web.Request) -> web.Response:
        body = await _body(request)
        persona = self._persona(body.get("user"))
        link = body.get("invite_link")
        if link is not None:
            if not isinstance(link, str) or not link.startswith("https://t.me/+"):
                raise Refused("invite_link must be a Telegram invite link (https://t.me/+...)")
            candidates = list(self.channels)
        else:
            chat_id = _int(body.get("chat_id"), "chat_id")
            if chat_id not in self.channels or self.channels[chat_id].members_only:
                raise Refused("that channel is joined only through an invite link")
            candidates = [chat_id]
        # An invite link names no channel: the one whose link it is lets the person in, the others say it is not theirs.
        refusal: EmulatorRefused | None = None
        for chat_id in candidates:
            body = {"chat_id": chat_id, **persona.profile(), **({"invite_link": link} if link else {})}
            try:
                result = await self.control("POST", f"/control/users/{persona.user_id}/join", body)
            except EmulatorRefused as refused:
                if "INVITE_HASH_INVALID" not in refused.description:
                    raise
                refusal = refused
                continue
            (await self.feed(chat_id)).version += 1
            await self.changed()
            return _ok({"chat_id": chat_id, "status": result["status"]})
        raise refusal or Refused("no channel to join")

    async def _file(self, request: web.Request) -> web.StreamResponse:
        persona = self._persona(request.query.get("user"))
        file_id = request.match_info["file_id"]
        visible: set[str] = set()
        for chat in await self.visible_chats(persona):
            visible |= file_ids(await self.chat_items(persona, chat["id"]))
        if file_id not in visible:
            raise Refused("no such file in this user's chats")
        found = await self.bot_api("getFile", file_id=file_id)
        url = f"{self.emulator_url}/file/bot{self.bot_token}/{found['file_path']}"
        async with self.session.get(url) as response:
            if response.status != 200:
                raise EmulatorRefused(response.status, "the file could not be downloaded")
            content = await response.read()
            content_type = response.content_type
        return web.Response(body=content, content_type=content_type,
                            headers={"Cache-Control": "private, max-age=3600"})  # fmt: skip

    def _persona(self, value: Any) -> Persona:
        user_id = _int(value, "user")
        persona = self.personas.get(user_id)
        if persona is None:
            raise Refused(f"unknown user {user_id}: choose one of {sorted(self.personas)}")
        return persona


def _same_versions(feeds: Iterable[ChatFeed], versions: dict[int, int]) -> bool:
    return all(feed.version == versions[feed.chat_id] for feed in feeds)


def _int(value: Any, name: str) -> int:
    """A whole number from JSON or a query string; anything else is refused."""
    if isinstance(value, bool):
        raise Refused(f"{name} must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise Refused(f"{name} must be a whole number")


async def _body(request: web.Request, *, limit: int = MAX_BODY) -> dict[str, Any]:
    """The request's JSON object; a body over ``limit`` bytes is refused (the app's own limit is :data:`MAX_BODY`:
    a larger ``limit`` reads the body itself)."""
    # Only JSON: a page of another site can send a form or text across origins without asking, never JSON.
    if request.content_type != "application/json":
        raise Refused("the body must be JSON (Content-Type: application/json)")
    try:
        if limit <= MAX_BODY:
            body = await request.json()
        else:
            body = json.loads(await _read(request, limit))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Refused("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise Refused("the body must be a JSON object")
    return body


async def _read(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise Refused(f"the request is too large (at most {_megabytes(limit)})")
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise Refused(f"the request is too large (at most {_megabytes(limit)})")
        chunks.append(chunk)
    return b"".join(chunks)


def _kind(value: Any, name: str) -> str:
    if value not in KINDS:
        raise Refused(f"{name} must be one of {', '.join(KINDS)}")
    return str(value)


def _file_name(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_FILE_NAME:
        raise Refused(f"{name} must be a file name of 1 to {MAX_FILE_NAME} characters")
    # Only the name: a path the browser or a caller put in front of it is dropped.
    return value.replace("\\", "/").rsplit("/", 1)[-1].strip() or "file"


def _content(value: Any, kind: str, name: str) -> bytes:
    """The file's bytes, within Telegram's limit for its kind."""
    if not isinstance(value, str):
        raise Refused(f"{name} must be the file as base64")
    limit = MAX_PHOTO_UPLOAD if kind == "photo" else MAX_UPLOAD
    if len(value) > _base64_length(limit):
        raise Refused(f"the {kind} is larger than Telegram's limit of {_megabytes(limit)}")
    try:
        content = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(f"{name} is not valid base64") from None
    if not content:
        raise Refused("the file is empty")
    if len(content) > limit:
        raise Refused(f"the {kind} is larger than Telegram's limit of {_megabytes(limit)}")
    return content


def _caption(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Refused("caption must be a string")
    if len(value) > MAX_CAPTION:
        raise Refused(f"caption is longer than Telegram's {MAX_CAPTION} characters")
    return value if value.strip() else None


def _base64_length(size: int) -> int:
    return 4 * -(-size // 3)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB" if size % (1024 * 1024) == 0 else f"{size / (1024 * 1024):.1f} MB"


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


async def _event(response: web.StreamResponse, name: str, data: Any) -> None:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    await response.write(f"event: {name}\ndata: {payload}\n\n".encode())


@web.middleware
async def _refusals(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                    ) -> web.StreamResponse:  # fmt: skip
    """A refused request is a 400 with the reason; what the emulator refused keeps its words."""
    # Asked for by name on loopback only: a name that resolves here by a trick (DNS rebinding) is not the page's.
    if request.url.host not in LOOPBACK_NAMES:
        return web.json_response({"ok": False, "error": "the playground answers on loopback only"}, status=400)
    try:
        return await handler(request)
    except Refused as refused:
        return web.json_response({"ok": False, "error": str(refused)}, status=400)
    except EmulatorRefused as refused:
        status = refused.status if 400 <= refused.status < 500 else 502
        return web.json_response({"ok": False, "error": refused.description}, status=status)
    except web.HTTPRequestEntityTooLarge:
        return web.json_response({"ok": False, "error": "the request is too large"}, status=400)
