"""The playground (``diana play``'s web page): its API refuses bad input and changes nothing, and the page, driven in
headless Chromium, shows what the emulator holds (text with entities, media, albums, edits, deletions, keyboards,
invoices, paid media, replies), sends what the composer holds (text, replies, photos and albums from disk), and plays
the real product end to end: a fan from /start to VIP content bought with Stars, an admin's channel posts (text, and a
photo sent from the page with /publicar in its caption) a fan reacts to."""

from __future__ import annotations

import asyncio
import base64
import shutil
import struct
import subprocess
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    InputMediaVideo,
    InputPaidMediaPhoto,
    LabeledPrice,
    Update,
)
from playwright.async_api import Browser, BrowserContext, Locator, Page, async_playwright, expect
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from infra.settings import EMULATOR_COMMUNITY_CHANNEL, EMULATOR_VIP_CHANNEL
from tests import hermetic
from tests.helpers import new_user_id
from tests.telegram import EmulatedUser, onboard
from tests.test_end_to_end import bot_environment, running_bot
from tools import stack
from tools.cli import start_playground
from tools.emulator import BotAPIEmulator
from tools.emulator.files import image_size
from tools.playground import Channel, Persona, Playground
from tools.playground.views import chat_view

TOKEN = "123456:PLAYGROUND-TOKEN"
# Waits for what the page shows: the real bot answers through Temporal, Postgres and Redis.
SHOWN_WITHIN_MS = 30_000
UPDATE_WITHIN = 30.0
# Small JPEGs of the content, chosen from disk as a person would.
MEDIA = Path(__file__).resolve().parent.parent / "content" / "media"
VELA, VELA_2 = MEDIA / "vela_1.jpg", MEDIA / "vela_2.jpg"
MB = 1024 * 1024


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


def png(width: int, height: int, rgb: bytes = b"\xc0\x40\x80") -> bytes:
    """A valid PNG of one colour."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    rows = b"".join(b"\x00" + rgb * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


# Fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (no browser of Playwright's own is downloaded)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Chromium is not installed: `apt-get install -y chromium` (.ci/run installs it)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(executable))
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def browser_context(chromium: Browser) -> AsyncIterator[BrowserContext]:
    context = await chromium.new_context(viewport={"width": 1100, "height": 900}, locale="es-ES")
    context.set_default_timeout(SHOWN_WITHIN_MS)
    try:
        yield context
    finally:
        await context.close()


@pytest.fixture
def fan() -> Persona:
    return Persona(new_user_id(), "Lucía")


@pytest.fixture
def other_fan() -> Persona:
    return Persona(new_user_id(), "Mateo")


@pytest.fixture
def admin() -> Persona:
    return Persona(new_user_id(), "Admin", "admin")


@pytest.fixture
async def playground(emulator: BotAPIEmulator, fan: Persona, other_fan: Persona,
                     admin: Persona) -> AsyncIterator[Playground]:  # fmt: skip
    """The playground on a free loopback port, for the test's emulator: the community channel and the VIP one."""
    channels = [Channel(EMULATOR_COMMUNITY_CHANNEL), Channel(EMULATOR_VIP_CHANNEL, members_only=True)]
    served = Playground(emulator.base_url, TOKEN, [fan, other_fan, admin], channels)
    await served.start()
    try:
        yield served
    finally:
        await served.stop()


@pytest.fixture
async def bot(emulator: BotAPIEmulator) -> AsyncIterator[Bot]:
    """The Bot API as the bot calls it, pointed at the emulator (a test plays the bot's part)."""
    api = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url)))
    try:
        yield api
    finally:
        await api.session.close()


@pytest.fixture
async def diana(
    emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, task_queue: str, database: str, redis_server: str,
    worker: Worker, admin: Persona,
) -> AsyncIterator[subprocess.Popen[bytes]]:  # fmt: skip
    """The real bot process with its worker, the admin configured and the emulator's channels."""
    env = bot_environment(emulator, temporal_env, task_queue, database, redis_server, ADMIN_IDS=str(admin.user_id),
                          COMMUNITY_CHANNEL_IDS=str(EMULATOR_COMMUNITY_CHANNEL),
                          VIP_CHANNEL_ID=str(EMULATOR_VIP_CHANNEL))  # fmt: skip
    async with running_bot(env) as process:
        yield process


async def open_as(context: BrowserContext, playground: Playground, persona: Persona) -> Page:
    """A page of the playground, as ``persona`` chose on the picker."""
    page = await context.new_page()
    await page.goto(playground.url)
    await page.locator(f'[data-user-id="{persona.user_id}"]').click()
    await expect(page.locator("#connection")).to_have_text("● En vivo")
    return page


async def attach(page: Page, *files: Path) -> None:
    """Choose ``files`` with the composer's attach button, in the browser's file chooser."""
    async with page.expect_file_chooser() as chooser:
        await page.get_by_role("button", name="Adjuntar").click()
    await (await chooser.value).set_files(list(files))
    for file in files:
        await expect(page.locator("#attachment-list")).to_contain_text(file.name)


async def say(page: Page, text: str) -> None:
    await page.get_by_label("Mensaje", exact=True).fill(text)
    await page.get_by_label("Mensaje", exact=True).press("Enter")


def messages(page: Page) -> Locator:
    return page.locator("#messages")


async def press(page: Page, label: str) -> None:
    """Press the newest button whose label contains ``label``."""
    await page.locator("#messages .kb", has_text=label).last.click()


async def media_shown(page: Page) -> None:
    """Every image, video and voice note of the chat, whatever the content puts there, has loaded through the
    playground (none broken)."""
    await page.wait_for_function("""() => {
        const images = [...document.querySelectorAll("#messages img")];
        const players = [...document.querySelectorAll("#messages video, #messages audio")];
        return images.every((img) => img.complete && img.naturalWidth > 0)
            && players.every((player) => player.readyState >= 1);
    }""")


async def api(http: aiohttp.ClientSession, playground: Playground, method: str, path: str,
              body: Any = None, **params: Any) -> tuple[int, dict[str, Any]]:  # fmt: skip
    async with http.request(method, playground.url.rstrip("/") + path, json=body, params=params) as response:
        return response.status, await response.json()


# The views, without a server ----------------------------------------------------------------------------


class TestViews:
    def test_an_album_is_one_item_and_paid_media_shows_previews_until_bought(self) -> None:
        chat = {"id": 7, "type": "private"}
        bot = {"id": 100000001, "is_bot": True, "first_name": "Diana"}
        photo = [{"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90},
                 {"file_id": "big", "file_unique_id": "b", "width": 800, "height": 800}]  # fmt: skip
        items = chat_view([
            {"message_id": 3, "date": 1, "chat": chat, "from": bot, "media_group_id": "g", "photo": photo},
            {"message_id": 4, "date": 1, "chat": chat, "from": bot, "media_group_id": "g", "caption": "Dos",
             "video": {"file_id": "vid", "file_unique_id": "v", "width": 640, "height": 360, "duration": 3}},
            {"message_id": 5, "date": 1, "chat": chat, "from": bot, "paid_media": {"star_count": 5, "paid_media": [
                {"type": "preview", "width": 300, "height": 200}]}},
            {"message_id": 6, "date": 1, "chat": chat, "from": {"id": 7, "is_bot": False, "first_name": "Ana"},
             "successful_payment": {"currency": "XTR", "total_amount": 250}},
        ])  # fmt: skip
        album, paid, payment = items
        assert album["key"] == "albumg" and album["message_ids"] == [3, 4] and album["text"] == "Dos"
        assert [(m["kind"], m["file"]) for m in album["media"]] == [("photo", "big"), ("video", "vid")]
        assert paid["paid"] == {"stars": 5, "unlocked": False, "items": [{"kind": "preview", "file": None, "width": 300,
                                                                          "height": 200, "duration": None}]}  # fmt: skip
        assert payment["from"] == "service" and payment["service"] == {"kind": "payment", "currency": "XTR",
                                                                       "amount": 250}  # fmt: skip


# `diana play`'s wiring -------------------------------------------------------------------------------------


class TestDianaPlay:
    async def test_play_serves_the_page_on_its_port_with_the_fans_the_admins_and_the_channels(
        self, emulator: BotAPIEmulator, http: aiohttp.ClientSession
    ) -> None:  # fmt: skip
        port = stack.free_port()
        settings = hermetic.settings(DIANA_PLAYGROUND_PORT=port, ADMIN_IDS="5000003")
        assert settings.uses_emulator
        served = await start_playground(settings, emulator.base_url)
        assert served is not None
        try:
            assert served.url == f"http://127.0.0.1:{port}/"
            async with http.get(served.url) as response:
                assert response.status == 200 and "¿Quién eres?" in await response.text()
            status, answer = await api(http, served, "GET", "/api/config")
            assert status == 200 and answer["result"]["personas"] == [
                {"id": 5_000_001, "name": "Lucía", "role": "fan"}, {"id": 5_000_002, "name": "Mateo", "role": "fan"},
                {"id": 5_000_003, "name": "Admin", "role": "admin"}]  # fmt: skip
            assert list(served.channels.values()) == [Channel(EMULATOR_COMMUNITY_CHANNEL),
                                                      Channel(EMULATOR_VIP_CHANNEL, members_only=True)]  # fmt: skip
            # The port is taken: `diana play` says so, and which setting picks another.
            with pytest.raises(stack.StackError, match="DIANA_PLAYGROUND_PORT"):
                await start_playground(settings, emulator.base_url)
        finally:
            await served.stop()
        assert await start_playground(hermetic.settings(DIANA_PLAYGROUND_PORT=0), emulator.base_url) is None


# The API's refusals: a 400 and nothing changed ----------------------------------------------------------


class TestRefusals:
    async def test_bad_input_is_refused_with_a_clear_400_and_reaches_nothing(
        self, playground: Playground, emulator: BotAPIEmulator, http: aiohttp.ClientSession, bot: Bot, fan: Persona,
        other_fan: Persona,
    ) -> None:  # fmt: skip
        user = EmulatedUser(http, emulator.base_url, fan.user_id, first_name=fan.first_name)
        await user.send("hola")
        keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Ver", callback_data="go")]])
        sent = await bot.send_message(fan.user_id, "Elige", reply_markup=keyboard)
        before = (len(emulator.updates), len(emulator.callback_queries), sorted(emulator.chats),
                  [len(chat.transcript) for chat in emulator.chats.values()], len(emulator.files))  # fmt: skip
        photo = {
            "user": fan.user_id,
            "type": "photo",
            "file_name": "vela_1.jpg",
            "content_base64": b64(VELA.read_bytes()),
        }
        item = {key: photo[key] for key in ("type", "file_name", "content_base64")}
        ten_megabytes = {**item, "type": "video", "content_base64": b64(bytes(10 * MB))}
        refusals = [
            ("POST", "/api/media", {**photo, "type": "sticker"}, "type must be one of photo, video, animation, voice"),
            ("POST", "/api/media", {**photo, "type": None}, "type must be one of"),
            ("POST", "/api/media", {**photo, "user": 999}, "unknown user 999"),
            (
                "POST",
                "/api/media",
                {**photo, "content_base64": b64(bytes(10 * MB + 1))},
                "the photo is larger than Telegram's limit of 10 MB",
            ),  # fmt: skip
            (
                "POST",
                "/api/media",
                {**photo, "type": "document", "content_base64": b64(bytes(50 * MB + 1))},
                "the document is larger than Telegram's limit of 50 MB",
            ),  # fmt: skip
            ("POST", "/api/media", {**photo, "content_base64": "no es base64!"}, "not valid base64"),
            ("POST", "/api/media", {**photo, "content_base64": ""}, "the file is empty"),
            ("POST", "/api/media", {**photo, "file_name": ""}, "file_name must be a file name"),
            ("POST", "/api/media", {**photo, "caption": "x" * 1025}, "caption is longer than Telegram's 1024"),
            ("POST", "/api/albums", {"user": fan.user_id, "items": [item]}, "2 to 10 files"),
            ("POST", "/api/albums", {"user": fan.user_id, "items": [item] * 11}, "2 to 10 files"),
            ("POST", "/api/albums", {"user": 999, "items": [item, item]}, "unknown user 999"),
            (
                "POST",
                "/api/albums",
                {"user": fan.user_id, "items": [item, {**item, "type": "gif"}]},
                "items[1].type must be one of",
            ),  # fmt: skip
            (
                "POST",
                "/api/albums",
                {"user": fan.user_id, "items": [item, {**item, "type": "voice"}]},
                "photos and videos, or only audio, or only documents (not photo, voice)",
            ),  # fmt: skip
            (
                "POST",
                "/api/albums",
                {"user": fan.user_id, "items": [item, {**item, "content_base64": b64(bytes(10 * MB + 1))}]},
                "the photo is larger than Telegram's limit of 10 MB",
            ),  # fmt: skip
            (
                "POST",
                "/api/albums",
                {"user": fan.user_id, "items": [item, *[ten_megabytes] * 4]},
                "at most 40 MB in one album",
            ),
            (
                "POST",
                "/api/messages",
                {"user": fan.user_id, "text": "sí", "reply_to_message_id": 999_999},
                "no such message in this user's chat with Diana",
            ),  # fmt: skip
            (
                "POST",
                "/api/messages",
                {"user": other_fan.user_id, "text": "sí", "reply_to_message_id": sent.message_id},
                "no such message in this user's chat with Diana",
            ),  # fmt: skip
            (
                "POST",
                "/api/messages",
                {"user": fan.user_id, "text": "sí", "reply_to_message_id": "x"},
                "reply_to_message_id must be a whole number",
            ),  # fmt: skip
            ("POST", "/api/messages", {"user": 999, "text": "hola"}, "unknown user 999"),
            ("POST", "/api/messages", {"user": "ana", "text": "hola"}, "user must be a whole number"),
            ("POST", "/api/messages", {"user": fan.user_id, "text": "x" * 4097}, "longer than Telegram's 4096"),
            ("POST", "/api/messages", {"user": fan.user_id, "text": "   "}, "non-empty"),
            ("POST", "/api/messages", {"user": fan.user_id, "text": 42}, "non-empty string"),
            ("POST", "/api/messages", ["not", "an", "object"], "JSON object"),
            (
                "POST",
                "/api/press",
                {"user": fan.user_id, "chat_id": fan.user_id, "message_id": sent.message_id, "data": "forged"},
                "no button with that data",
            ),  # fmt: skip
            (
                "POST",
                "/api/press",
                {"user": fan.user_id, "chat_id": fan.user_id, "message_id": sent.message_id, "data": "x" * 65},
                "1 to 64 bytes",
            ),  # fmt: skip
            (
                "POST",
                "/api/press",
                {"user": fan.user_id, "chat_id": fan.user_id, "message_id": 999_999, "data": "go"},
                "no such message",
            ),  # fmt: skip
            (
                "POST",
                "/api/press",
                {"user": other_fan.user_id, "chat_id": fan.user_id, "message_id": sent.message_id, "data": "go"},
                "not one this user sees",
            ),  # fmt: skip
            (
                "POST",
                "/api/press",
                {"user": fan.user_id, "chat_id": fan.user_id, "message_id": True, "data": "go"},
                "message_id must be a whole number",
            ),  # fmt: skip
            ("POST", "/api/pay", {"user": fan.user_id, "message_id": "1.5"}, "message_id must be a whole number"),
            (
                "POST",
                "/api/paid_media",
                {"user": fan.user_id, "chat_id": other_fan.user_id, "message_id": 1},
                "not one this user sees",
            ),
            ("POST", "/api/join", {"user": fan.user_id, "invite_link": "https://example.com/+x"}, "invite link"),
            ("POST", "/api/join", {"user": fan.user_id, "chat_id": EMULATOR_VIP_CHANNEL}, "only through an invite"),
            ("GET", f"/api/chats/{fan.user_id}?user={other_fan.user_id}", None, "not one this user sees"),
            ("GET", "/api/events?user=12", None, "unknown user 12"),
            ("GET", f"/api/files/AgACAgIAAxkBAAIforged?user={fan.user_id}", None, "no such file"),
            ("POST", "/api/messages", {"user": fan.user_id, "text": "x" * 70_000}, "too large"),
        ]
        for method, path, body, reason in refusals:
            async with http.request(method, playground.url.rstrip("/") + path, json=body) as response:
                answer = await response.json()
            assert response.status == 400, (path, body, answer)
            assert answer["ok"] is False and reason in answer["error"], (path, body, answer)
        # Only JSON, and only asked for by a loopback name: another site's form, or a rebound DNS name, is refused.
        async with http.post(playground.url + "api/messages", data=f'{{"user": {fan.user_id}, "text": "hola"}}',
                             headers={"Content-Type": "text/plain"}) as response:  # fmt: skip
            assert response.status == 400 and "Content-Type: application/json" in (await response.json())["error"]
        form = aiohttp.FormData({"user": str(fan.user_id), "type": "photo", "file_name": "vela_1.jpg"})
        form.add_field("photo", VELA.read_bytes(), filename="vela_1.jpg", content_type="image/jpeg")
        async with http.post(playground.url + "api/media", data=form) as response:
            assert response.status == 400 and "Content-Type: application/json" in (await response.json())["error"]
        async with http.post(playground.url + "api/media", data=b"{" + b" " * (70 * MB) + b"}",
                             headers={"Content-Type": "application/json"}) as response:  # fmt: skip
            assert response.status == 400 and "too large" in (await response.json())["error"]
        async with http.get(
            playground.url + "api/config", headers={"Host": f"evil.example:{playground.port}"}
        ) as response:
            assert response.status == 400 and "loopback only" in (await response.json())["error"]
        after = (len(emulator.updates), len(emulator.callback_queries), sorted(emulator.chats),
                 [len(chat.transcript) for chat in emulator.chats.values()], len(emulator.files))  # fmt: skip
        assert after == before, "a refused request reaches nothing"
        # The emulator's own refusal comes back as a 400 with Telegram's words (an invoice that does not exist).
        status, answer = await api(http, playground, "POST", "/api/pay", {"user": fan.user_id,
                                                                         "message_id": sent.message_id})  # fmt: skip
        assert status == 400 and answer == {"ok": False, "error": "Bad Request: the message has no invoice"}

    async def test_paying_a_bad_invoice_link_is_refused_with_a_400_and_pays_nothing(
        self, playground: Playground, emulator: BotAPIEmulator, http: aiohttp.ClientSession, bot: Bot, fan: Persona,
        other_fan: Persona,
    ) -> None:  # fmt: skip
        await EmulatedUser(http, emulator.base_url, fan.user_id, first_name=fan.first_name).send("hola")
        link = await bot.create_invoice_link(title="VIP Mensual", description="30 días", payload="vip-sub",
                                             currency="XTR", prices=[LabeledPrice(label="VIP", amount=250)],
                                             subscription_period=2_592_000)  # fmt: skip
        # A button whose link looks like an invoice link but is none the bot created.
        forged = "https://t.me/$forgedNoInvoice"
        keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="💎 Suscribirme", url=link)],
                                                         [InlineKeyboardButton(text="Otro", url=forged)]])  # fmt: skip
        sent = await bot.send_message(fan.user_id, "VIP Mensual", reply_markup=keyboard)
        before = (len(emulator.updates), [len(chat.transcript) for chat in emulator.chats.values()])
        refusals: list[tuple[dict[str, Any], str]] = [
            ({"invoice_link": "https://example.com/$abc"}, "invoice_link must be a Telegram invoice link"),
            ({"invoice_link": "https://t.me/+invite"}, "invoice_link must be a Telegram invoice link"),
            ({"invoice_link": 42}, "invoice_link must be a Telegram invoice link"),
            ({"invoice_link": link, "message_id": sent.message_id}, "exactly one of message_id"),
            ({}, "exactly one of message_id"),
            ({"invoice_link": "https://t.me/$notInThisChat"}, "no button of this user's chat with Diana opens"),
            ({"invoice_link": link, "user": other_fan.user_id}, "no button of this user's chat with Diana opens"),
        ]
        for body, reason in refusals:
            status, answer = await api(http, playground, "POST", "/api/pay", {"user": fan.user_id, **body})
            assert status == 400 and answer["ok"] is False and reason in answer["error"], (body, answer)
        # The emulator's own refusal, with Telegram's words: no invoice behind the forged link.
        status, answer = await api(http, playground, "POST", "/api/pay", {"user": fan.user_id,
                                                                         "invoice_link": forged})  # fmt: skip
        assert status == 400 and answer == {
            "ok": False,
            "error": "Bad Request: INVOICE_INVALID (no invoice behind that link)",
        }
        after = (len(emulator.updates), [len(chat.transcript) for chat in emulator.chats.values()])
        assert after == before and not emulator.payments.charges and not emulator.payments.subscriptions
        # The page's view: the real link's button shows what it sells (a subscription, not paid); the forged one
        # stays a plain link.
        status, answer = await api(http, playground, "GET", f"/api/chats/{fan.user_id}", user=fan.user_id)
        item = next(i for i in answer["result"]["items"] if i["message_id"] == sent.message_id)
        assert item["buttons"][0][0]["invoice"] == {"title": "VIP Mensual", "description": "30 días",
                                                    "currency": "XTR", "amount": 250, "period": 2_592_000,
                                                    "paid": False}  # fmt: skip
        assert item["buttons"][1][0]["invoice"] is None

    async def test_files_are_served_only_to_who_sees_them_and_paid_media_only_once_bought(
        self, playground: Playground, emulator: BotAPIEmulator, http: aiohttp.ClientSession, bot: Bot, fan: Persona,
        other_fan: Persona,
    ) -> None:  # fmt: skip
        await EmulatedUser(http, emulator.base_url, fan.user_id).send("hola")
        photo = png(40, 30)
        sent = await bot.send_photo(fan.user_id, BufferedInputFile(photo, "foto.png"))
        paid = await bot.send_paid_media(fan.user_id, star_count=3, media=[
            InputPaidMediaPhoto(media=BufferedInputFile(png(20, 20, b"\x10\x20\x30"), "secreto.png"))])  # fmt: skip
        assert sent.photo is not None and paid.paid_media is not None
        photo_id = sent.photo[-1].file_id
        secret = paid.paid_media.paid_media[0]
        assert secret.type == "photo"
        secret_id = secret.photo[-1].file_id  # type: ignore[union-attr]

        async with http.get(f"{playground.url}api/files/{photo_id}", params={"user": fan.user_id}) as response:
            assert response.status == 200 and response.content_type == "image/png"
            assert await response.read() == photo
        for user, file_id in ((other_fan.user_id, photo_id), (fan.user_id, secret_id)):
            async with http.get(f"{playground.url}api/files/{file_id}", params={"user": user}) as response:
                assert response.status == 400
        status, _ = await api(http, playground, "POST", "/api/paid_media", {
            "user": fan.user_id, "chat_id": fan.user_id, "message_id": paid.message_id})  # fmt: skip
        assert status == 200
        async with http.get(f"{playground.url}api/files/{secret_id}", params={"user": fan.user_id}) as response:
            assert response.status == 200 and await response.read() == png(20, 20, b"\x10\x20\x30")


# The page, with a test playing the bot ----------------------------------------------------------------


class TestPage:
    async def test_the_page_shows_every_kind_of_message_live_and_safely(
        self, playground: Playground, emulator: BotAPIEmulator, http: aiohttp.ClientSession, bot: Bot, fan: Persona,
        browser_context: BrowserContext,
    ) -> None:  # fmt: skip
        page = await open_as(browser_context, playground, fan)
        await say(page, "/start")
        await expect(messages(page).locator(".from-user")).to_contain_text("/start")

        keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Continuar ✨", callback_data="go"),
                                                          InlineKeyboardButton(text="Web", url="https://example.com")]])  # fmt: skip
        text = await bot.send_message(fan.user_id, "Hola, <b>Lucía</b>. <i>Soy Diana</i> &lt;img src=x onerror=alert(1)&gt; "
                                      "<tg-spoiler>secreto</tg-spoiler> <a href='javascript:alert(1)'>mal</a>",
                                      parse_mode="HTML", reply_markup=keyboard)  # fmt: skip
        first = messages(page).locator(f'[data-message-id="{text.message_id}"]')
        await expect(first.locator("strong")).to_have_text("Lucía")
        await expect(first.locator("em")).to_have_text("Soy Diana")
        await expect(first.locator(".text")).to_contain_text("<img src=x onerror=alert(1)>")
        assert await first.locator(".text img").count() == 0, "text is never read as HTML"
        assert await first.locator("a[href^='javascript']").count() == 0
        await expect(first.locator(".spoiler")).to_have_text("secreto")
        await expect(first.get_by_role("link", name="Web ↗")).to_have_attribute("href", "https://example.com")

        await bot.send_photo(fan.user_id, BufferedInputFile(png(320, 200), "foto.png"), caption="Una <b>foto</b>",
                             parse_mode="HTML")  # fmt: skip
        await expect(messages(page).locator("img[alt='Foto']")).to_have_count(1)
        await bot.send_media_group(fan.user_id, [
            InputMediaPhoto(media=BufferedInputFile(png(100, 100, b"\x20\x80\x20"), "a.png")),
            InputMediaVideo(media=BufferedInputFile(b"\x00\x00\x00\x18ftypmp42", "b.mp4"), caption="Álbum")])  # fmt: skip
        album = messages(page).locator(".album")
        await expect(album.locator("img")).to_have_count(1)
        await expect(album.locator("video[controls]")).to_have_count(1)
        await bot.send_video(fan.user_id, BufferedInputFile(b"\x00\x00\x00\x18ftypmp42", "v.mp4"), duration=4)
        await bot.send_voice(fan.user_id, BufferedInputFile(b"OggS\x00", "nota.ogg"), duration=12)
        await bot.send_audio(fan.user_id, BufferedInputFile(b"ID3\x00", "cancion.mp3"), title="Nocturno",
                             performer="Diana", duration=65)  # fmt: skip
        await bot.send_document(fan.user_id, BufferedInputFile(b'{"a": 1}', "datos.json"))
        await expect(messages(page).locator(".voice")).to_contain_text("Nota de voz · 0:12")
        await expect(messages(page).locator(".voice audio[controls]")).to_have_count(1)
        await expect(messages(page).locator(".audio")).to_contain_text("Nocturno — Diana · 1:05")
        await expect(messages(page).locator("a.document")).to_contain_text("datos.json")
        await expect(messages(page).locator("video[controls]")).to_have_count(2)
        # Every file comes through the playground, for this user; the page holds no token.
        sources = await messages(page).locator("img, video, audio").evaluate_all("els => els.map(e => e.src)")
        assert sources and all("/api/files/" in src and f"user={fan.user_id}" in src for src in sources)
        assert all(TOKEN not in src for src in sources)
        await expect(messages(page).locator("img[alt='Foto']").first).to_have_js_property("naturalWidth", 320)

        # Edits are applied in place, deletions remove the message, a press sends the callback and shows the toast.
        await bot.edit_message_text("Editado <b>en su sitio</b>", chat_id=fan.user_id, message_id=text.message_id,
                                    parse_mode="HTML", reply_markup=keyboard)  # fmt: skip
        await expect(first.locator(".text")).to_have_text("Editado en su sitio")
        await expect(first.locator(".meta")).to_contain_text("editado")
        await first.get_by_role("button", name="Continuar ✨").click()
        query = await _answered_later(emulator, bot, "¡Hecho!")
        assert query["data"] == "go" and query["user_id"] == fan.user_id
        await expect(page.locator("#toasts")).to_contain_text("¡Hecho!")
        await bot.delete_message(fan.user_id, text.message_id)
        await expect(first).to_have_count(0)

    async def test_paid_media_unlock_and_an_invoice_the_bot_refuses_in_the_pay_dialog(
        self, playground: Playground, emulator: BotAPIEmulator, http: aiohttp.ClientSession, bot: Bot, fan: Persona,
        browser_context: BrowserContext,
    ) -> None:  # fmt: skip
        await EmulatedUser(http, emulator.base_url, fan.user_id, first_name=fan.first_name).send("hola")
        paid = await bot.send_paid_media(fan.user_id, star_count=5, caption="Solo para ti", media=[
            InputPaidMediaPhoto(media=BufferedInputFile(png(300, 200), "secreto.png"))])  # fmt: skip
        page = await open_as(browser_context, playground, fan)
        item = messages(page).locator(f'[data-message-id="{paid.message_id}"]')
        await expect(item.locator(".paid-preview")).to_have_count(1)
        assert await item.locator("img").count() == 0, "nothing of the media before it is bought"
        await item.get_by_role("button", name="Desbloquear por 5 ⭐").click()
        dialog = page.locator("#stars-dialog")
        await expect(dialog).to_be_visible()
        await dialog.get_by_role("button", name="Desbloquear por 5 ⭐").click()
        await expect(dialog).to_be_hidden()
        await expect(item.locator("img[alt='Foto']")).to_have_count(1)
        assert [p["user_id"] for p in emulator.paid_media.purchases] == [fan.user_id]

        invoice = await bot.send_invoice(fan.user_id, title="VIP Mensual", description="30 días", payload="vip-1",
                                         currency="XTR", prices=[LabeledPrice(label="VIP", amount=250)])  # fmt: skip
        card = messages(page).locator(f'[data-message-id="{invoice.message_id}"]')
        await card.get_by_role("button", name="Pagar 250 ⭐").click()
        await expect(dialog.locator("#stars-title")).to_have_text("VIP Mensual")
        await dialog.get_by_role("button", name="Pagar 250 ⭐").click()
        # The bot (the test) refuses the pre-checkout query: the dialog says why, and nothing is charged.
        updates = await _pre_checkout(bot)
        await bot.answer_pre_checkout_query(updates, ok=False, error_message="Ese plan ya no existe.")
        await expect(dialog.locator("#stars-error")).to_have_text("Ese plan ya no existe.")
        assert not emulator.payments.charges
        await dialog.get_by_role("button", name="Pagar 250 ⭐").click()
        await bot.answer_pre_checkout_query(await _pre_checkout(bot), ok=True)
        await expect(dialog).to_be_hidden()
        await expect(messages(page).locator(".service")).to_have_text("Pagaste 250 ⭐")
        await expect(card.locator(".invoice-paid")).to_have_text("✓ Pagado")

    async def test_the_composer_sends_a_photo_with_its_caption_an_album_and_a_reply(
        self, playground: Playground, emulator: BotAPIEmulator, bot: Bot, fan: Persona, browser_context: BrowserContext,
    ) -> None:  # fmt: skip
        page = await open_as(browser_context, playground, fan)
        await say(page, "hola")
        await expect(messages(page).locator(".from-user")).to_contain_text("hola")

        # One photo: the text box is its caption; it shows in the chat as Telegram shows it, loaded.
        await attach(page, VELA)
        await expect(page.get_by_label("Enviar vela_1.jpg como")).to_have_value("photo")
        await say(page, "Mi vela")
        mine = messages(page).locator(".from-user", has_text="Mi vela")
        width, _ = image_size(VELA.read_bytes()) or (0, 0)
        await expect(mine.locator("img[alt='Foto']")).to_have_js_property("naturalWidth", width)
        await expect(page.locator("#attachments")).to_be_hidden()
        await expect(page.get_by_label("Mensaje", exact=True)).to_have_value("")
        chat = emulator.chats[fan.user_id]
        photo = next(m for m in chat.messages.values() if m.get("caption") == "Mi vela")
        assert photo["photo"][-1]["file_size"] == VELA.stat().st_size and "media_group_id" not in photo

        # Two photos at once: an album, the caption on its first item.
        await attach(page, VELA, VELA_2)
        await say(page, "Dos velas")
        album = messages(page).locator(".album")
        await expect(album.locator("img")).to_have_count(2)
        await media_shown(page)
        grouped = [m for m in chat.messages.values() if m.get("media_group_id")]
        assert len(grouped) == 2 and len({m["media_group_id"] for m in grouped}) == 1
        assert [m.get("caption") for m in grouped] == ["Dos velas", None]
        assert [e["kind"] for e in chat.transcript if e["kind"].startswith("user_")][-2:] == ["user_photo",
                                                                                            "user_media_group"]  # fmt: skip

        # A reply: the quote above the composer, then above the sent message; the update answers the bot's message.
        question = await bot.send_message(fan.user_id, "¿Cuál prefieres?")
        asked = messages(page).locator(f'[data-message-id="{question.message_id}"]')
        await asked.get_by_role("button", name="↩ Responder").click()
        await expect(page.locator("#reply-bar")).to_contain_text("Respondiendo a Diana")
        await expect(page.locator("#reply-text")).to_have_text("¿Cuál prefieres?")
        await say(page, "La segunda")
        answer = messages(page).locator(".from-user", has_text="La segunda")
        await expect(answer.locator(".reply-quote")).to_contain_text("Diana")
        await expect(answer.locator(".reply-quote .quote-text")).to_have_text("¿Cuál prefieres?")
        await expect(page.locator("#reply-bar")).to_be_hidden()
        replied = next(m for m in chat.messages.values() if m.get("text") == "La segunda")
        assert replied["reply_to_message"]["message_id"] == question.message_id


async def _next_update(bot: Bot, kind: str) -> Update:
    """The next update of ``kind`` the bot (the test) gets by long polling, confirmed; within a deadline."""
    async with asyncio.timeout(UPDATE_WITHIN):
        while True:
            for update in await bot.get_updates(timeout=5, allowed_updates=[kind]):
                await bot.get_updates(offset=update.update_id + 1, timeout=0)
                if getattr(update, kind) is not None:
                    return update


async def _pre_checkout(bot: Bot) -> str:
    """The id of the pre-checkout query the bot is asked now."""
    query = (await _next_update(bot, "pre_checkout_query")).pre_checkout_query
    assert query is not None
    return query.id


async def _answered_later(emulator: BotAPIEmulator, bot: Bot, text: str) -> dict[str, Any]:
    """The callback query the page's press created, answered by the bot (the test) with ``text``."""
    query = (await _next_update(bot, "callback_query")).callback_query
    assert query is not None
    await bot.answer_callback_query(query.id, text=text)
    return emulator.callback_queries[query.id]


# The real product, through the page ---------------------------------------------------------------------


def _subscriptions(emulator: BotAPIEmulator) -> list[dict[str, Any]]:
    """The emulator's Stars subscriptions, as ``GET /control/subscriptions`` lists them."""
    return [subscription.view() for subscription in emulator.payments.subscriptions.values()]


async def test_a_fan_plays_from_start_to_vip_content_bought_with_stars(
    diana: subprocess.Popen[bytes], playground: Playground, emulator: BotAPIEmulator, http: aiohttp.ClientSession,
    fan: Persona, browser_context: BrowserContext,
) -> None:  # fmt: skip
    page = await open_as(browser_context, playground, fan)
    await expect(messages(page)).to_contain_text("Escribe /start para conocer a Diana")
    await say(page, "/start")
    await expect(messages(page)).to_contain_text("Soy Diana")
    await expect(messages(page).locator(".bubble strong", has_text="Diana")).not_to_have_count(0)
    # The introduction redraws one message: three presses to the menu.
    for step in ("(2/3)", "(3/3)"):
        await press(page, "Continuar ✨" if step == "(2/3)" else "Continuar")
        await expect(messages(page)).to_contain_text(step)
    await press(page, "Entrar" if await page.locator(".kb", has_text="Entrar").count() else "Continuar")
    await expect(messages(page)).to_contain_text("Bienvenido a mi mundo")

    # The story: the first fragment, a choice, and on to the night that decides.
    await press(page, "Continuar Historia")
    await expect(messages(page)).to_contain_text("La invitación")
    await media_shown(page)
    await press(page, "Preguntar quién es")
    await expect(messages(page)).to_contain_text("¿Quién eres?")
    for choice, title in (("Continuar ➡️", "El primer secreto"), ("Guardar su secreto", "Lo que se guarda"),
                          ("Continuar ➡️", "El espejo"), ("Guardar distancia", "La distancia justa"),
                          ("Continuar ➡️", "La noche decide")):  # fmt: skip
        await press(page, choice)
        await expect(messages(page)).to_contain_text(title)

    # The VIP door shows its teaser; VIP is bought with Stars in the pay dialog, through the real pre-checkout.
    await press(page, "Abrir la puerta cerrada")
    await expect(messages(page)).to_contain_text("solo para mis VIP")
    await press(page, "VIP")
    await expect(messages(page)).to_contain_text("Elige tu plan")
    # VIP Mensual is a Stars subscription: a message whose button opens the bot's invoice link (createInvoiceLink
    # with a period); the page opens the same pay dialog for it, and pays through the link.
    await press(page, "VIP Mensual")
    subscribe = messages(page).locator(".kb.invoice-link", has_text="250 ⭐")
    await expect(subscribe).to_have_count(1)
    # The offer's message, by its id: its button's label changes once paid.
    offer_id = await subscribe.locator("xpath=ancestor::li").get_attribute("data-message-id")
    offer = messages(page).locator(f'[data-message-id="{offer_id}"]')
    await subscribe.click()
    dialog = page.locator("#stars-dialog")
    await expect(dialog.locator("#stars-title")).to_have_text("VIP Mensual")
    await expect(dialog.locator("#stars-amount")).to_have_text("250 ⭐")
    await expect(dialog.locator("#stars-period")).to_have_text("cada 30 días")
    await dialog.get_by_role("button", name="Suscribirme por 250 ⭐").click()
    await expect(dialog).to_be_hidden()
    await expect(messages(page).locator(".service")).to_have_text("Pagaste 250 ⭐")
    # The VIP welcome arrives live, and the link's button shows the subscription paid.
    welcome = messages(page).locator(".message", has_text="Bienvenido a mi círculo íntimo")
    await expect(welcome).to_have_count(1)
    await expect(welcome).to_contain_text("VIP Mensual")
    await expect(messages(page).locator(".kb", has_text="Entrar al canal VIP")).to_be_visible()
    await expect(offer.locator(".kb.invoice-link")).to_have_text("✓ Pagado")
    await expect(offer.locator(".kb.invoice-link")).to_be_disabled()
    (subscription,) = [s for s in _subscriptions(emulator) if s["user_id"] == fan.user_id]
    assert subscription["active"] and subscription["total_amount"] == 250 and subscription["period"] == 2_592_000
    # Paying the running subscription again: the emulator's refusal, in Telegram's words, and nothing charged.
    status, answer = await api(
        http, playground, "POST", "/api/pay", {"user": fan.user_id, "invoice_link": subscription["invoice_link"]}
    )
    assert status == 400 and answer == {"ok": False, "error": "Bad Request: SUBSCRIPTION_ALREADY_ACTIVE"}
    assert len(emulator.payments.charges) == 1

    # The invite to the private channel joins it from the page; the channel shows up among the chats.
    await press(page, "Entrar al canal VIP")
    await expect(page.locator("#chats")).to_contain_text("Diana · VIP")

    # The VIP content: the locked room opens.
    await press(page, "Continuar Historia")
    await expect(messages(page)).to_contain_text("La noche decide")
    await press(page, "Abrir la puerta cerrada")
    await expect(messages(page)).to_contain_text("El cuarto cerrado")
    await expect(messages(page)).to_contain_text("La llave gira")
    await media_shown(page)


async def test_an_admin_posts_in_the_channel_and_a_fan_reacts(
    diana: subprocess.Popen[bytes], playground: Playground, emulator: BotAPIEmulator, http: aiohttp.ClientSession,
    fan: Persona, admin: Persona, browser_context: BrowserContext,
) -> None:  # fmt: skip
    await onboard(EmulatedUser(http, emulator.base_url, fan.user_id, first_name=fan.first_name))
    admin_page = await open_as(browser_context, playground, admin)
    await say(admin_page, "/publicar Nueva noche, nuevos secretos 🌙")
    await expect(messages(admin_page)).to_contain_text("Publicado en el canal")

    fan_page = await open_as(browser_context, playground, fan)
    await fan_page.locator("#chats button", has_text="Diana · Comunidad").click()
    post = messages(fan_page).locator(".message", has_text="Nueva noche, nuevos secretos 🌙")
    await expect(post.locator(".author")).to_have_text("Diana · Comunidad")
    await post.get_by_role("button", name="❤️").click()
    await expect(fan_page.locator("#toasts")).to_contain_text("+2 besitos")
    # The bot counts the reaction under the post: the page redraws the keyboard in place, on both pages.
    await expect(post.get_by_role("button", name="❤️ 1")).to_be_visible()
    await admin_page.locator("#chats button", has_text="Diana · Comunidad").click()
    await expect(messages(admin_page).get_by_role("button", name="❤️ 1")).to_be_visible()
    # The achievement the first reaction unlocked arrives in the fan's private chat, marked as new.
    await expect(fan_page.locator("#chats button", has_text="Diana").first.locator(".unread")).to_be_visible()
    await fan_page.locator("#chats button").first.click()
    await expect(messages(fan_page)).to_contain_text("Miembro de la Comunidad")


async def test_an_admin_posts_a_photo_from_the_page_with_publicar_and_a_fan_reacts(
    diana: subprocess.Popen[bytes], playground: Playground, emulator: BotAPIEmulator, http: aiohttp.ClientSession,
    fan: Persona, admin: Persona, browser_context: BrowserContext,
) -> None:  # fmt: skip
    await onboard(EmulatedUser(http, emulator.base_url, fan.user_id, first_name=fan.first_name))
    admin_page = await open_as(browser_context, playground, admin)
    await attach(admin_page, VELA)
    await say(admin_page, "/publicar Una foto para ustedes")
    published = messages(admin_page).locator(".message", has_text="Publicado en el canal")
    await expect(published).to_have_count(1)
    # Two photos chosen at once go as an album, /publicar in its caption: the album goes to the channel, its text
    # after it with the reaction buttons.
    await attach(admin_page, VELA, VELA_2)
    await say(admin_page, "/publicar Dos velas encendidas")
    await expect(messages(admin_page).locator(".album img")).to_have_count(2)
    await expect(published).to_have_count(2)

    fan_page = await open_as(browser_context, playground, fan)
    await fan_page.locator("#chats button", has_text="Diana · Comunidad").click()
    post = messages(fan_page).locator(".message", has_text="Una foto para ustedes")
    await expect(post.locator(".author")).to_have_text("Diana · Comunidad")
    width, _ = image_size(VELA.read_bytes()) or (0, 0)
    await expect(post.locator("img[alt='Foto']")).to_have_js_property("naturalWidth", width)
    await expect(post.locator(".text")).to_have_text("Una foto para ustedes")
    await post.get_by_role("button", name="❤️").click()
    await expect(fan_page.locator("#toasts")).to_contain_text("+2 besitos")
    await expect(post.get_by_role("button", name="❤️ 1")).to_be_visible()
    channel_album = messages(fan_page).locator(".message", has=fan_page.locator(".album"))
    await expect(channel_album.locator("img")).to_have_count(2)
    await expect(messages(fan_page).locator(".message", has_text="Dos velas encendidas").get_by_role(
        "button", name="❤️")).to_be_visible()  # fmt: skip
