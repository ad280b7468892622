"""The Bot API emulator speaks Telegram's protocol: shapes, limits, long polling, webhooks, faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Update
from aiohttp import web

from infra.emulator import BotAPIEmulator
from infra.stack import free_port

TOKEN = "123456:TEST-TOKEN"


@pytest.fixture
async def emulator() -> AsyncIterator[BotAPIEmulator]:
    emulator = BotAPIEmulator(token=TOKEN)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


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
        from infra.emulator.markup import BadRequest

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


class TestWebhook:
    async def test_updates_are_pushed_with_the_secret_header(self, bot: Bot, emulator: BotAPIEmulator) -> None:
        received: list[tuple[str | None, dict[str, Any]]] = []

        async def hook(request: web.Request) -> web.Response:
            received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
            return web.Response()

        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
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
