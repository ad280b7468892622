"""The Bot API emulator speaks Telegram's protocol: shapes, limits, long polling, webhooks, faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from aiohttp import web

from tests.helpers import http_receiver
from tests.telegram import EmulatedUser
from tools.emulator import BotAPIEmulator
from tools.emulator.server import FloodLimits

TOKEN = "123456:TEST-TOKEN"
CHANNEL = -1001000000001
BOT_ID = 100000001


def keyboard(data: str = "go") -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="b", callback_data=data)]])


@pytest.fixture
async def emulator() -> AsyncIterator[BotAPIEmulator]:
    emulator = BotAPIEmulator(token=TOKEN)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
async def bot(emulator: BotAPIEmulator) -> AsyncIterator[Bot]:
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url)))
    try:
        yield bot
    finally:
        await bot.session.close()


async def call(http: aiohttp.ClientSession, emulator: BotAPIEmulator, method: str, token: str = TOKEN,
               **params: Any) -> tuple[int, dict[str, Any]]:  # fmt: skip
    async with http.post(f"{emulator.base_url}/bot{token}/{method}", json=params) as response:
        return response.status, await response.json()


class TestProtocol:
    async def test_get_me_through_aiogram(self, bot: Bot) -> None:
        me = await bot.get_me()
        assert me.is_bot and me.username == "diana_emulated_bot"

    async def test_unknown_method_and_bad_token(self, http: aiohttp.ClientSession, emulator: BotAPIEmulator) -> None:
        status, body = await call(http, emulator, "sendTelepathy")
        assert status == 404 and body == {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
        status, body = await call(http, emulator, "getMe", token="999:WRONG")
        assert status == 401 and body["description"] == "Unauthorized"

    async def test_parameters_in_query_form_and_json(
        self, http: aiohttp.ClientSession, emulator: BotAPIEmulator
    ) -> None:
        await emulator.user_sends_text(1, "hola")
        url = f"{emulator.base_url}/bot{TOKEN}/sendMessage"
        async with http.get(url, params={"chat_id": "1", "text": "por query"}) as response:
            assert (await response.json())["result"]["text"] == "por query"
        async with http.post(url, data={"chat_id": "1", "text": "por form"}) as response:
            assert (await response.json())["result"]["text"] == "por form"
        async with http.post(url, json={"chat_id": 1, "text": "por json"}) as response:
            assert (await response.json())["result"]["text"] == "por json"

    async def test_text_limits(self, bot: Bot, emulator: BotAPIEmulator) -> None:
        await emulator.user_sends_text(1, "hola")
        assert (await bot.send_message(1, "x" * 4096)).text == "x" * 4096
        with pytest.raises(TelegramBadRequest, match="message is too long"):
            await bot.send_message(1, "x" * 4097)
        with pytest.raises(TelegramBadRequest, match="message text is empty"):
            await bot.send_message(1, "")
        # Length counts after entity parsing, as Telegram does.
        assert await bot.send_message(1, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
        with pytest.raises(TelegramBadRequest, match="can't parse entities"):
            await bot.send_message(1, "<b>unclosed", parse_mode="HTML")
        with pytest.raises(TelegramBadRequest, match="Unsupported start tag"):
            await bot.send_message(1, "<script>x</script>", parse_mode="HTML")

    async def test_html_becomes_text_and_entities(self, bot: Bot, emulator: BotAPIEmulator) -> None:
        await emulator.user_sends_text(1, "hola")
        sent = await bot.send_message(1, "💋 <b>Mis</b> <i>besitos</i> &amp; <a href=\"https://t.me/x\">más</a>",
                                      parse_mode="HTML")  # fmt: skip
        assert sent.text == "💋 Mis besitos & más"
        assert sent.entities is not None
        assert [(e.type, e.offset, e.length) for e in sent.entities] == [
            ("bold", 3, 3), ("italic", 7, 7), ("text_link", 17, 3)]  # fmt: skip
        assert sent.entities[2].url == "https://t.me/x"
        # Same text and entities again: not modified, as Telegram says.
        with pytest.raises(TelegramBadRequest, match="not modified"):
            await bot.edit_message_text("💋 <b>Mis</b> <i>besitos</i> &amp; <a href=\"https://t.me/x\">más</a>",
                                        chat_id=1, message_id=sent.message_id, parse_mode="HTML")  # fmt: skip
        edited = await bot.edit_message_text("💋 Mis besitos & más", chat_id=1, message_id=sent.message_id)
        assert not isinstance(edited, bool) and edited.entities is None

    async def test_callback_data_limits(self, bot: Bot, emulator: BotAPIEmulator) -> None:
        await emulator.user_sends_text(1, "hola")

        def keyboard(data: str) -> InlineKeyboardMarkup:
            return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="b", callback_data=data)]])

        assert await bot.send_message(1, "ok", reply_markup=keyboard("x" * 64))
        with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
            await bot.send_message(1, "too long", reply_markup=keyboard("x" * 65))
        with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
            await bot.send_message(1, "multibyte", reply_markup=keyboard("ñ" * 33))

    async def test_edit_delete_and_their_errors(self, bot: Bot, emulator: BotAPIEmulator) -> None:
        await emulator.user_sends_text(1, "hola")
        sent = await bot.send_message(1, "uno")
        edited = await bot.edit_message_text("dos", chat_id=1, message_id=sent.message_id)
        assert not isinstance(edited, bool) and edited.text == "dos"
        with pytest.raises(TelegramBadRequest, match="message is not modified"):
            await bot.edit_message_text("dos", chat_id=1, message_id=sent.message_id)
        with pytest.raises(TelegramBadRequest, match="message to edit not found"):
            await bot.edit_message_text("tres", chat_id=1, message_id=999)
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message(424, "nadie")
        assert await bot.delete_message(1, sent.message_id)
        with pytest.raises(TelegramBadRequest, match="message to delete not found"):
            await bot.delete_message(1, sent.message_id)

    async def test_callback_queries_are_answered_once(self, bot: Bot, emulator: BotAPIEmulator) -> None:
        await emulator.user_sends_text(1, "hola")
        markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="b", callback_data="go")]])
        sent = await bot.send_message(1, "elige", reply_markup=markup)
        pressed = await emulator.user_presses(1, message_id=sent.message_id, callback_data="go")
        assert await bot.answer_callback_query(pressed["callback_query_id"], text="hecho")
        with pytest.raises(TelegramBadRequest, match="query is too old"):
            await bot.answer_callback_query(pressed["callback_query_id"])
        answers = [e for e in emulator.chats[1].transcript if e["kind"] == "callback_answer"]
        assert answers[0]["text"] == "hecho"

    async def test_a_user_can_only_press_buttons_that_exist_unless_forging(self, bot: Bot,
                                                                           emulator: BotAPIEmulator) -> None:  # fmt: skip
        await emulator.user_sends_text(1, "hola")
        sent = await bot.send_message(1, "sin botones")
        from tools.emulator.markup import BadRequest

        with pytest.raises(BadRequest):
            await emulator.user_presses(1, message_id=sent.message_id, callback_data="x")
        assert await emulator.user_presses(1, message_id=sent.message_id, callback_data="x", forge=True)


class TestUpdates:
    async def test_updates_parse_as_aiogram_types(self, bot: Bot, emulator: BotAPIEmulator) -> None:
        await emulator.user_sends_text(7, "/start vip_abc", first_name="Ana", username="ana", language_code="es")
        markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="b", callback_data="go")]])
        sent = await bot.send_message(7, "elige", reply_markup=markup)
        await emulator.user_presses(7, message_id=sent.message_id, callback_data="go")
        updates = await bot.get_updates()
        assert [type(u) for u in updates] == [Update, Update]
        message, query = updates[0].message, updates[1].callback_query
        assert message is not None and message.text == "/start vip_abc" and message.from_user is not None
        assert message.from_user.username == "ana" and message.entities and message.entities[0].type == "bot_command"
        assert query is not None and query.data == "go" and query.message is not None
        assert query.message.message_id == sent.message_id

    async def test_offset_limit_and_confirmation(self, bot: Bot, emulator: BotAPIEmulator) -> None:
        for text in ("a", "b", "c"):
            await emulator.user_sends_text(1, text)
        first_two = await bot.get_updates(limit=2)
        assert [u.message.text for u in first_two if u.message] == ["a", "b"]
        rest = await bot.get_updates(offset=first_two[-1].update_id + 1)
        assert [u.message.text for u in rest if u.message] == ["c"]
        # Confirmed updates are gone for good.
        assert [u.message.text for u in await bot.get_updates() if u.message] == ["c"]
        assert await bot.get_updates(offset=rest[-1].update_id + 1) == []

    async def test_long_polling_returns_when_an_update_arrives(self, bot: Bot, emulator: BotAPIEmulator) -> None:
        waiting = asyncio.create_task(bot.get_updates(timeout=10))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await emulator.user_sends_text(1, "ya")
        updates = await asyncio.wait_for(waiting, timeout=5)
        assert [u.message.text for u in updates if u.message] == ["ya"]

    async def test_allowed_updates_filters(self, bot: Bot, emulator: BotAPIEmulator) -> None:
        await emulator.user_sends_text(1, "texto")
        assert await bot.get_updates(allowed_updates=["callback_query"]) == []
        assert len(await bot.get_updates(allowed_updates=["message"])) == 1

    async def test_update_ids_keep_growing_across_emulator_restarts(self) -> None:
        first = BotAPIEmulator()
        a = await first.user_sends_text(1, "x")
        second = BotAPIEmulator()
        b = await second.user_sends_text(1, "x")
        assert b["update_id"] > a["update_id"]


async def webhook_receiver(hook: Callable[[web.Request], Awaitable[web.Response]]) -> tuple[web.AppRunner, int]:
    """A local webhook endpoint at ``/hook``; the caller cleans the runner up."""
    return await http_receiver("/hook", hook)


class TestWebhook:
    async def test_updates_are_pushed_with_the_secret_header(self, bot: Bot, emulator: BotAPIEmulator) -> None:
        received: list[tuple[str | None, dict[str, Any]]] = []

        async def hook(request: web.Request) -> web.Response:
            received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
            return web.Response()

        runner, port = await webhook_receiver(hook)
        try:
            with pytest.raises(TelegramBadRequest, match="secret token"):
                await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="no spaces allowed")
            assert await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
            with pytest.raises(Exception, match="webhook is active"):
                await bot.get_updates()
            await emulator.user_sends_text(1, "empujado")
            for _ in range(50):
                if received:
                    break
                await asyncio.sleep(0.1)
            assert received[0][0] == "s3cret"
            update = Update.model_validate(received[0][1])
            assert update.message is not None and update.message.text == "empujado"
            assert (await bot.get_webhook_info()).pending_update_count == 0
        finally:
            await bot.delete_webhook()
            await runner.cleanup()

    async def test_senders_are_delivered_at_once_and_each_in_order(self, bot: Bot, emulator: BotAPIEmulator) -> None:
        """Like Telegram: several connections at once (max_connections), one user's updates one after another."""
        log: list[tuple[str, int, str]] = []
        one_at_a_time_per_user: dict[int, int] = {}

        async def hook(request: web.Request) -> web.Response:
            update = Update.model_validate(await request.json())
            assert update.message is not None and update.message.from_user is not None and update.message.text
            user = update.message.from_user.id
            one_at_a_time_per_user[user] = one_at_a_time_per_user.get(user, 0) + 1
            assert one_at_a_time_per_user[user] == 1
            log.append(("start", user, update.message.text))
            await asyncio.sleep(0.3)
            log.append(("end", user, update.message.text))
            one_at_a_time_per_user[user] -= 1
            return web.Response()

        runner, port = await webhook_receiver(hook)
        try:
            for bad in (0, 101):
                with pytest.raises(TelegramBadRequest, match="max_connections"):
                    await bot.set_webhook(f"http://127.0.0.1:{port}/hook", max_connections=bad)
            assert await bot.set_webhook(f"http://127.0.0.1:{port}/hook", max_connections=3)
            assert (await bot.get_webhook_info()).max_connections == 3
            for text in ("a1", "a2", "a3"):
                await emulator.user_sends_text(1, text)
            for user in (2, 3, 4):
                await emulator.user_sends_text(user, f"u{user}")
            for _ in range(100):
                if len(log) == 12:
                    break
                await asyncio.sleep(0.1)
            assert [text for kind, user, text in log if user == 1 and kind == "start"] == ["a1", "a2", "a3"]
            # Three connections: users 2 and 3 start while a1 is still being handled, user 4 waits for one.
            first_end = log.index(("end", 1, "a1"))
            started_early = {user for kind, user, _ in log[:first_end] if kind == "start"}
            assert started_early == {1, 2, 3}
            assert (await bot.get_webhook_info()).pending_update_count == 0
        finally:
            await bot.delete_webhook()
            await runner.cleanup()


class TestChannels:
    async def test_the_bot_posts_and_edits_in_the_default_channel(self, bot: Bot, emulator: BotAPIEmulator) -> None:
        post = await bot.send_message(CHANNEL, "<b>Novedades</b>", parse_mode="HTML", reply_markup=keyboard())
        assert post.chat.type == "channel" and post.chat.title == "Diana · Comunidad"
        assert post.chat.username == "diana_comunidad" and post.from_user is None
        assert post.sender_chat is not None and post.sender_chat.id == CHANNEL
        edited = await bot.edit_message_text("Más novedades", chat_id=CHANNEL, message_id=post.message_id)
        assert not isinstance(edited, bool) and edited.text == "Más novedades" and edited.reply_markup is None
        assert await bot.edit_message_reply_markup(chat_id=CHANNEL, message_id=post.message_id, reply_markup=keyboard())
        # Telegram also takes a channel's @username as chat_id.
        assert (await bot.send_message("@diana_comunidad", "por nombre")).chat.id == CHANNEL
        kinds = [(e["kind"], e["text"]) for e in emulator.chats[CHANNEL].transcript]
        assert kinds == [("bot_message", "Novedades"), ("bot_edit", "Más novedades"), ("bot_edit", "Más novedades"),
                         ("bot_message", "por nombre")]  # fmt: skip

    async def test_unknown_channels_are_not_found(self, http: aiohttp.ClientSession, bot: Bot,
                                                  emulator: BotAPIEmulator) -> None:  # fmt: skip
        status, body = await call(http, emulator, "sendMessage", chat_id=-1009999999999, text="nadie")
        assert status == 400 and body == {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message("@no_existe", "nadie")
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.edit_message_text("x", chat_id=-1009999999999, message_id=1)
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.get_chat(-1009999999999)

    async def test_the_control_api_adds_channels(self, http: aiohttp.ClientSession, bot: Bot,
                                                 emulator: BotAPIEmulator) -> None:  # fmt: skip
        body = {"chat_id": -1002000000002, "title": "VIP", "username": "diana_vip"}
        async with http.post(f"{emulator.base_url}/control/channels", json=body) as response:
            added = await response.json()
        assert added == {"ok": True, "result": {"id": -1002000000002, "type": "channel", "title": "VIP",
                                                "username": "diana_vip"}}  # fmt: skip
        assert (await bot.send_message(-1002000000002, "hola vip")).chat.title == "VIP"
        info = await bot.get_chat("@diana_vip")
        assert (info.id, info.type, info.title) == (-1002000000002, "channel", "VIP")
        refused = [{"chat_id": 5, "title": "no es canal"}, {"chat_id": -1003, "title": ""},
                   {"chat_id": -1003000000003, "title": "x", "username": "diana_comunidad"},
                   {"chat_id": -1003000000003, "title": "x", "username": "no spaces"}, {"title": "sin id"}]  # fmt: skip
        for bad in refused:
            async with http.post(f"{emulator.base_url}/control/channels", json=bad) as response:
                assert response.status == 400 and (await response.json())["ok"] is False, bad

    async def test_pressing_a_button_on_a_channel_post(self, http: aiohttp.ClientSession, bot: Bot,
                                                       emulator: BotAPIEmulator) -> None:  # fmt: skip
        ana, bea = EmulatedUser(http, emulator.base_url, 7, first_name="Ana"), EmulatedUser(http, emulator.base_url, 8)
        post = await bot.send_message(CHANNEL, "¿Te gusta?", reply_markup=keyboard("like"))
        pressed = await ana.press(post.message_id, "like", chat_id=CHANNEL)
        await bea.press(post.message_id, "like", chat_id=CHANNEL)
        await ana.send("hola")
        private = await bot.send_message(7, "elige", reply_markup=keyboard("go"))
        await ana.press(private.message_id, "go")
        updates = [u for u in await bot.get_updates() if u.callback_query]
        first, second, in_private = (u.callback_query for u in updates)
        assert first is not None and second is not None and in_private is not None
        assert first.id == pressed["callback_query_id"] and first.data == "like"
        assert first.from_user.id == 7 and first.from_user.first_name == "Ana" and second.from_user.id == 8
        assert first.message is not None and first.message.chat.type == "channel"
        assert isinstance(first.message, Message) and first.message.sender_chat is not None
        assert first.message.message_id == post.message_id and first.message.from_user is None
        # chat_instance names the chat: the same for everyone in the channel, another for the private chat.
        assert first.chat_instance == second.chat_instance != in_private.chat_instance
        assert await bot.answer_callback_query(first.id, text="¡Gracias!", show_alert=True)
        assert await ana.callback_answer(first.id) == {"text": "¡Gracias!", "show_alert": True, "url": None,
                                                       "cache_time": 0}  # fmt: skip
        # The toast is Ana's alone: the channel's transcript never shows it.
        assert [e["kind"] for e in emulator.chats[CHANNEL].transcript] == ["bot_message", "user_press", "user_press"]
        with pytest.raises(TelegramBadRequest, match="query is too old"):
            await bot.answer_callback_query(first.id)
        with pytest.raises(AssertionError, match="no button with that callback_data"):
            await ana.press(post.message_id, "dislike", chat_id=CHANNEL)
        assert (await ana.press(post.message_id, "dislike", chat_id=CHANNEL, forge=True))["callback_query_id"]

    async def test_a_callback_answer_can_be_awaited(self, http: aiohttp.ClientSession, bot: Bot,
                                                    emulator: BotAPIEmulator) -> None:  # fmt: skip
        ana = EmulatedUser(http, emulator.base_url, 7)
        post = await bot.send_message(CHANNEL, "¿Te gusta?", reply_markup=keyboard("like"))
        query_id = (await ana.press(post.message_id, "like", chat_id=CHANNEL))["callback_query_id"]
        waiting = asyncio.create_task(ana.callback_answer(query_id, within=5))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await bot.answer_callback_query(query_id, text="ok")
        assert (await asyncio.wait_for(waiting, timeout=5))["text"] == "ok"
        with pytest.raises(AssertionError, match="did not answer"):
            await ana.callback_answer((await ana.press(post.message_id, "like", chat_id=CHANNEL))["callback_query_id"],
                                      within=0.2)  # fmt: skip
        async with http.get(f"{emulator.base_url}/control/callbacks/nope") as response:
            assert response.status == 404 and (await response.json())["ok"] is False

    async def test_chat_member_updates_only_when_asked_for(self, http: aiohttp.ClientSession, bot: Bot,
                                                           emulator: BotAPIEmulator) -> None:  # fmt: skip
        ana = EmulatedUser(http, emulator.base_url, 7, first_name="Ana", username="ana")
        assert await bot.get_updates() == []
        # Not asked for: Telegram does not create it, and asking later brings no old joins.
        assert await ana.join(CHANNEL) == {"update_id": None, "status": "member"}
        assert await bot.get_updates(allowed_updates=["message", "chat_member"]) == []
        assert (await bot.get_chat_member(CHANNEL, 7)).status == "member"
        left = await ana.leave(CHANNEL)
        assert left["status"] == "left" and left["update_id"] is not None
        joined = await ana.join(CHANNEL)
        # Joining again changes nothing: no update.
        assert await ana.join(CHANNEL) == {"update_id": None, "status": "member"}
        updates = await bot.get_updates()
        assert [u.update_id for u in updates] == [left["update_id"], joined["update_id"]]
        leaving, joining = (u.chat_member for u in updates)
        assert leaving is not None and joining is not None
        assert leaving.chat.id == CHANNEL and leaving.chat.type == "channel" and leaving.date is not None
        assert leaving.from_user.id == 7 and leaving.from_user.username == "ana"
        assert (leaving.old_chat_member.status, leaving.new_chat_member.status) == ("member", "left")
        assert (joining.old_chat_member.status, joining.new_chat_member.status) == ("left", "member")
        assert joining.new_chat_member.user.id == 7
        kinds = [e["kind"] for e in emulator.chats[CHANNEL].transcript]
        assert kinds == ["user_join", "user_leave", "user_join"]

    async def test_chat_member_updates_reach_a_webhook_that_asked(self, bot: Bot, emulator: BotAPIEmulator) -> None:
        received: list[dict[str, Any]] = []

        async def hook(request: web.Request) -> web.Response:
            received.append(await request.json())
            return web.Response()

        runner, port = await webhook_receiver(hook)
        try:
            assert await bot.set_webhook(f"http://127.0.0.1:{port}/hook", allowed_updates=["chat_member"])
            await emulator.user_joins(9, CHANNEL)
            for _ in range(50):
                if received:
                    break
                await asyncio.sleep(0.1)
            update = Update.model_validate(received[0])
            assert update.chat_member is not None and update.chat_member.new_chat_member.status == "member"
        finally:
            await bot.delete_webhook()
            await runner.cleanup()

    async def test_get_chat_member_and_get_chat(self, http: aiohttp.ClientSession, bot: Bot,
                                                emulator: BotAPIEmulator) -> None:  # fmt: skip
        assert (await bot.get_chat_member(CHANNEL, BOT_ID)).status == "administrator"
        with pytest.raises(TelegramBadRequest, match="user not found"):
            await bot.get_chat_member(CHANNEL, 424242)
        ana = EmulatedUser(http, emulator.base_url, 7, first_name="Ana", username="ana")
        await ana.send("hola")
        assert (await bot.get_chat_member(CHANNEL, 7)).status == "left"
        assert (await bot.get_chat_member(7, 7)).status == "member"
        private = await bot.get_chat(7)
        assert (private.id, private.type, private.first_name, private.username) == (7, "private", "Ana", "ana")
        channel = await bot.get_chat(CHANNEL)
        assert (channel.type, channel.title, channel.username) == ("channel", "Diana · Comunidad", "diana_comunidad")

    async def test_membership_control_refuses_what_telegram_would_not_do(
        self, http: aiohttp.ClientSession, bot: Bot, emulator: BotAPIEmulator
    ) -> None:
        for chat_id, description in ((-1009999999999, "Bad Request: chat not found"),
                                     (7, "Bad Request: chat not found")):  # fmt: skip
            async with http.post(f"{emulator.base_url}/control/users/7/join", json={"chat_id": chat_id}) as response:
                assert response.status == 400 and (await response.json())["description"] == description
        await emulator.user_sends_text(7, "hola")
        async with http.post(f"{emulator.base_url}/control/users/7/join", json={"chat_id": 7}) as response:
            assert response.status == 400
        async with http.post(f"{emulator.base_url}/control/users/7/leave", json={}) as response:
            assert response.status == 400
        # Met in the channel but never wrote to the bot: Telegram lets no bot speak first.
        await emulator.user_joins(8, CHANNEL)
        with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
            await bot.send_message(8, "hola")


class TestDocuments:
    async def test_send_document_upload(self, http: aiohttp.ClientSession, bot: Bot, emulator: BotAPIEmulator) -> None:
        await emulator.user_sends_text(1, "hola")
        content = json.dumps({"nivel": 3, "besitos": 120, "nombre": "Ana"}, ensure_ascii=False).encode()
        sent = await bot.send_document(1, BufferedInputFile(content, "progreso.json"), caption="<b>Tu</b> progreso",
                                       parse_mode="HTML", reply_markup=keyboard())  # fmt: skip
        document = sent.document
        assert document is not None and document.file_name == "progreso.json"
        assert document.mime_type == "application/json" and document.file_size == len(content)
        assert document.file_id and document.file_unique_id
        assert sent.caption == "Tu progreso" and sent.caption_entities and sent.caption_entities[0].type == "bold"
        assert sent.from_user is not None and sent.from_user.id == BOT_ID
        entry = emulator.chats[1].transcript[-1]
        assert entry["kind"] == "bot_document" and json.loads(entry["document_text"]) == json.loads(content)
        assert (entry["file_name"], entry["mime_type"], entry["file_size"]) == ("progreso.json", "application/json",
                                                                                 len(content))  # fmt: skip
        assert entry["caption"] == "Tu progreso" and entry["html"] == "<b>Tu</b> progreso"
        assert entry["buttons"] == [[{"text": "b", "callback_data": "go", "url": None}]]
        # The file stays with Telegram: getFile and the file URL give it back, its file_id sends it again.
        file = await bot.get_file(document.file_id)
        assert file.file_path is not None
        async with http.get(f"{emulator.base_url}/file/bot{TOKEN}/{file.file_path}") as response:
            assert await response.read() == content
        again = await bot.send_document(CHANNEL, document.file_id)
        assert again.document is not None and again.document.file_unique_id == document.file_unique_id
        assert again.chat.type == "channel" and again.from_user is None
        assert emulator.chats[CHANNEL].transcript[-1]["document_text"] == content.decode()

    async def test_a_plain_multipart_document_part(self, http: aiohttp.ClientSession, emulator: BotAPIEmulator) -> None:
        await emulator.user_sends_text(1, "hola")
        form = aiohttp.FormData()
        form.add_field("chat_id", "1")
        form.add_field("document", b"\xff\xfe binario", filename="datos.bin", content_type="application/octet-stream")
        async with http.post(f"{emulator.base_url}/bot{TOKEN}/sendDocument", data=form) as response:
            body = await response.json()
        assert body["ok"] and body["result"]["document"]["mime_type"] == "application/octet-stream"
        assert "caption" not in body["result"]
        assert emulator.chats[1].transcript[-1]["document_text"] is None

    async def test_send_document_errors(self, http: aiohttp.ClientSession, bot: Bot, emulator: BotAPIEmulator) -> None:
        await emulator.user_sends_text(1, "hola")
        with pytest.raises(TelegramBadRequest, match="file must be non-empty"):
            await bot.send_document(1, BufferedInputFile(b"", "vacio.json"))
        with pytest.raises(TelegramBadRequest, match="message caption is too long"):
            await bot.send_document(1, BufferedInputFile(b"{}", "a.json"), caption="x" * 1025)
        assert await bot.send_document(1, BufferedInputFile(b"{}", "a.json"), caption="x" * 1024)
        with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
            await bot.send_document(1, "no-such-file-id")
        status, body = await call(http, emulator, "sendDocument", chat_id=1)
        assert status == 400 and body["description"] == "Bad Request: there is no document in the request"
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_document(-1009999999999, BufferedInputFile(b"{}", "a.json"))
        sent = await bot.send_document(1, BufferedInputFile(b"{}", "a.json"))
        with pytest.raises(TelegramBadRequest, match="there is no text in the message to edit"):
            await bot.edit_message_text("texto", chat_id=1, message_id=sent.message_id)

    async def test_a_user_who_blocked_the_bot_gets_no_document(self, http: aiohttp.ClientSession, bot: Bot,
                                                               emulator: BotAPIEmulator) -> None:  # fmt: skip
        await emulator.user_sends_text(1, "hola")
        await http.post(f"{emulator.base_url}/control/users/1/block")
        with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
            await bot.send_document(1, BufferedInputFile(b"{}", "a.json"))
        status, body = await call(http, emulator, "sendMessage", chat_id=1, text="x")
        assert status == 403 and body["error_code"] == 403
        assert [e["kind"] for e in emulator.chats[1].transcript] == ["user_message"]


class TestFaults:
    async def test_next_calls_fail_with_429_then_5xx(self, http: aiohttp.ClientSession, bot: Bot,
                                                     emulator: BotAPIEmulator) -> None:  # fmt: skip
        await emulator.user_sends_text(1, "hola")
        await http.post(f"{emulator.base_url}/control/faults", json={"count": 1, "error_code": 429, "retry_after": 7})
        await http.post(f"{emulator.base_url}/control/faults", json={"count": 1, "error_code": 502})
        with pytest.raises(TelegramRetryAfter) as flood:
            await bot.send_message(1, "uno")
        assert flood.value.retry_after == 7
        status, body = await call(http, emulator, "sendMessage", chat_id=1, text="dos")
        assert status == 502 and body["ok"] is False and body["error_code"] == 502
        assert (await bot.send_message(1, "tres")).text == "tres"

    async def test_a_slow_answer_comes_late_with_the_call_already_carried_out(
        self, http: aiohttp.ClientSession, bot: Bot, emulator: BotAPIEmulator
    ) -> None:  # fmt: skip
        await emulator.user_sends_text(1, "hola")
        await http.post(
            f"{emulator.base_url}/control/faults", json={"count": 1, "delay": 1.5, "methods": ["sendMessage"]}
        )
        sending = asyncio.create_task(bot.send_message(1, "lento"))
        await asyncio.sleep(0.5)
        assert not sending.done(), "not answered yet"
        assert [e["text"] for e in emulator.chats[1].transcript if e["kind"] == "bot_message"] == ["lento"], "but sent"
        assert (await sending).text == "lento"
        assert (await bot.send_message(1, "rápido")).text == "rápido", "one slow answer only"

    async def test_429_shape(self, http: aiohttp.ClientSession, emulator: BotAPIEmulator) -> None:
        await http.post(f"{emulator.base_url}/control/faults", json={"count": 1, "error_code": 429, "retry_after": 3})
        status, body = await call(http, emulator, "getMe")
        assert status == 429
        assert body == {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 3",
                        "parameters": {"retry_after": 3}}  # fmt: skip


async def test_control_api_validates_its_input(http: aiohttp.ClientSession, emulator: BotAPIEmulator) -> None:
    async with http.post(f"{emulator.base_url}/control/users/5/press", json={"callback_data": "x"}) as response:
        assert response.status == 400
    async with http.post(f"{emulator.base_url}/control/users/5/messages", json={"text": ""}) as response:
        body = await response.json()
        assert response.status == 400 and body["description"] == "Bad Request: message text is empty"
    async with http.post(f"{emulator.base_url}/control/users/abc/messages", json={"text": "hola"}) as response:
        assert response.status == 400
    async with http.get(f"{emulator.base_url}/control/chats/5/transcript", params={"after": "x"}) as response:
        assert response.status == 400 and (await response.json())["ok"] is False
    async with http.post(f"{emulator.base_url}/control/faults", json={"count": "many"}) as response:
        assert response.status == 400
    assert json.dumps(emulator.updates) == "[]" and emulator.faults == []


class TestFloodLimits:
    """Opt-in flood control: one message per chat per interval, so many a second overall, answered with 429."""

    def test_the_limits_count_per_chat_and_over_the_last_second(self) -> None:
        limits = FloodLimits(per_second=3, per_chat_interval=1.0)
        assert [limits.wait(chat, 10.0) for chat in ("1", "2", "3")] == [0, 0, 0]
        assert limits.wait("1", 10.2) == 1, "the same chat again within its interval"
        assert limits.wait("4", 10.5) == 1, "a fourth message within one second"
        assert limits.wait("4", 11.0) == 0, "a second later the window has room again"
        assert limits.wait("1", 11.1) == 0

    async def test_off_by_default_then_429_with_retry_after_until_switched_off(
        self, http: aiohttp.ClientSession, bot: Bot, emulator: BotAPIEmulator
    ) -> None:
        assert BotAPIEmulator().flood_limits is None
        assert BotAPIEmulator(flood_limits=True).flood_limits == FloodLimits(per_second=30, per_chat_interval=1.0)
        await emulator.user_sends_text(1, "hola")
        await emulator.user_sends_text(2, "hola")
        await bot.send_message(1, "uno")
        await bot.send_message(1, "dos")  # no limits yet
        async with http.post(f"{emulator.base_url}/control/limits", json={"per_chat_interval": 60}) as response:
            assert (await response.json())["ok"]
        await bot.send_message(1, "tres")
        with pytest.raises(TelegramRetryAfter) as flood:
            await bot.send_message(1, "cuatro")
        assert flood.value.retry_after >= 1
        status, body = await call(http, emulator, "sendMessage", chat_id=1, text="cinco")
        assert status == 429 and body["description"].startswith("Too Many Requests: retry after ")
        assert body["parameters"]["retry_after"] >= 1
        assert (await bot.send_message(2, "otro chat")).text == "otro chat"
        flooded = [c for c in emulator.calls if c.get("error_code") == 429]
        assert [(c["method"], c["chat_id"]) for c in flooded] == [("sendMessage", 1), ("sendMessage", 1)]
        async with http.post(f"{emulator.base_url}/control/limits", json={"per_second": 0}) as response:
            assert response.status == 400
        async with http.post(f"{emulator.base_url}/control/limits", json={"enabled": False}) as response:
            assert (await response.json())["ok"]
        assert (await bot.send_message(1, "seis")).text == "seis"
        texts = [e["text"] for e in emulator.chats[1].transcript if e["kind"] == "bot_message"]
        assert texts == ["uno", "dos", "tres", "seis"], "a flooded message is not delivered"
