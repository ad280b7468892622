"""Story screens with media through the real bot: each kind of media screen, the moves between text and media, the
VIP teaser blurred, media uploaded once and then sent by file_id, and a file_id Telegram lost uploaded again."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiogram import Bot
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters.media_library import SHIPPED_MEDIA, MediaLibrary
from adapters.screens import ScreenSender
from tests.helpers import eventually, new_user_id, settled
from tests.telegram import EmulatedUser, onboard, pay_invoice, redeliver, vip_invoice
from tests.test_end_to_end import bot_environment, running_bot
from tests.test_support_cli import cli
from tools.emulator import BotAPIEmulator
from workflows.contracts import Screen, ScreenMedia


@pytest.fixture
async def bot_process(
    emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, task_queue: str, database: str, redis_server: str,
    worker: Worker,
) -> AsyncIterator[subprocess.Popen[bytes]]:  # fmt: skip
    """The real bot, as its own process; a reader pressing faster than the rate limit allows is this test, not a
    user (the limit has tests of its own)."""
    env = bot_environment(emulator, temporal_env, task_queue, database, redis_server, RATE_LIMIT_UPDATES="0")
    async with running_bot(env) as process:
        yield process


MEDIA_SCREENS = ("bot_message", "bot_edit", "bot_photo", "bot_video", "bot_voice", "bot_media_group", "bot_edit_media")


async def screen_after(user: EmulatedUser, *kinds: str, within: float = 30.0) -> list[dict[str, Any]]:
    """What the bot showed up to and including the next entry of ``kinds`` (deletions included)."""
    shown: list[dict[str, Any]] = []
    while True:
        entry = await user.next_from_bot(*MEDIA_SCREENS, "bot_delete", within=within)
        shown.append(entry)
        if entry["kind"] in kinds:
            return shown


async def next_with_button(user: EmulatedUser, label: str) -> dict[str, Any]:
    """The next message from the bot with a button labelled ``label`` (notices before it are skipped)."""
    while True:
        entry = await user.next_from_bot("bot_message")
        if label in str(entry["buttons"]):
            return entry


def screen_in(shown: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The entry of ``kind`` among ``shown`` (the new screen, before the pressed one went)."""
    [entry] = [entry for entry in shown if entry["kind"] == kind]
    return entry


def retired(shown: list[dict[str, Any]]) -> list[int]:
    """The messages the bot deleted among ``shown``."""
    return [entry["message_id"] for entry in shown if entry["kind"] == "bot_delete"]


async def answered_again(emulator: BotAPIEmulator, mark: int) -> bool:
    return any(call["method"] == "answerCallbackQuery" for call in emulator.calls[mark:])


def pressing(screen: dict[str, Any], action: str) -> str:
    """The callback data of the button of ``screen`` that does ``action`` (``pick.<choice id>``)."""
    for row in screen["buttons"]:
        for button in row:
            if f":{action}:" in button["callback_data"]:
                return str(button["callback_data"])
    raise AssertionError(f"no {action} button in {screen['buttons']}")


def stored_photo(emulator: BotAPIEmulator, name: str) -> int:
    """How many times the bot uploaded the shipped photo ``name`` (each upload is a new set of sizes at Telegram)."""
    content = (SHIPPED_MEDIA / name).read_bytes()
    return len({tuple(f.sizes) for f in emulator.files.values() if f.content == content})


async def test_each_kind_of_media_screen_and_the_moves_between_text_and_media(
    bot_process: subprocess.Popen[bytes],
    emulator: BotAPIEmulator, http: aiohttp.ClientSession, pool: asyncpg.Pool, client: Client,
) -> None:  # fmt: skip
    user = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Lucía")
    menu = await onboard(user)

    # Menu (text) → f01 (a photo, the fragment as its caption): the text message becomes the photo, in place.
    await user.press(menu["message_id"], user.button(menu, "Continuar Historia"))
    [f01] = await screen_after(user, "bot_edit_media")
    assert f01["message_id"] == menu["message_id"] and f01["type"] == "photo"
    assert "La invitación" in f01["caption"] and "<b>La invitación</b>" in f01["html"]
    assert [b["text"] for row in f01["buttons"] for b in row][:2] == ["Seguirla sin preguntar", "Preguntar quién es"]
    # Kept once Telegram answered the upload (just after the user saw it).
    row = await eventually(lambda: pool.fetchrow("SELECT kind, file_id, sha256, registered_by FROM media_files "
                                                 "WHERE key = 'puerta_verde'"))  # fmt: skip
    assert row is not None and row["kind"] == "photo" and row["registered_by"] is None
    assert row["sha256"] == hashlib.sha256((SHIPPED_MEDIA / "puerta_verde.jpg").read_bytes()).hexdigest()

    # A stale button on an old media message is refused like any other: /diana sends a new menu below the photo.
    await user.send("/diana")
    fresh_menu = await next_with_button(user, "Continuar Historia")
    await user.press(f01["message_id"], user.button(f01, "Seguirla"))
    answer = await user.next_from_bot("callback_answer")
    assert answer["show_alert"] and "pantalla anterior" in answer["text"]
    await user.press(fresh_menu["message_id"], user.button(fresh_menu, "Continuar Historia"))
    [f01] = await screen_after(user, "bot_edit_media")

    # Photo → f02 (text): Telegram cannot turn a photo into text, so the text is sent and the photo goes.
    await user.press(f01["message_id"], user.button(f01, "Seguirla"))
    shown = await screen_after(user, "bot_delete")
    f02 = screen_in(shown, "bot_message")
    assert "Sin preguntas" in f02["text"] and retired(shown) == [f01["message_id"]]

    # Text → f04 (a voice note, which no edit can make): sent anew with its caption and the buttons, text gone.
    await user.press(f02["message_id"], user.button(f02, "Continuar"))
    shown = await screen_after(user, "bot_delete")
    f04 = screen_in(shown, "bot_voice")
    assert "El primer secreto" in f04["caption"] and f04["protected"]
    assert [b["callback_data"] for row in f04["buttons"] for b in row], "the buttons are under the voice note"
    assert retired(shown) == [f02["message_id"]]

    # Voice → f06 (an album of three photos): the album, then the text with the buttons under it.
    pressed = await user.press(f04["message_id"], pressing(f04, "pick.c04_press"))
    shown = await screen_after(user, "bot_delete")
    album = screen_in(shown, "bot_media_group")
    f06 = screen_in(shown, "bot_message")
    assert [item["type"] for item in album["items"]] == ["photo", "photo", "photo"]
    assert album["items"][0]["caption"] == "La primera vela: alguien la encendió pensando en ti."
    assert album["protected"] and f06["seq"] > album["seq"] and f06["buttons"]
    assert retired(shown) == [f04["message_id"]]

    # The same press delivered again (Telegram redelivers): the screen is not shown a second time.
    mark = len(emulator.calls)
    await redeliver(http, emulator.base_url, pressed["update_id"])
    await eventually(lambda: answered_again(emulator, mark))
    assert not [call for call in emulator.calls[mark:] if call["method"].startswith("send")]

    # Levels for chapter 2 and 3 (support's grant), then text → text (edited in place) and text → photo (in place).
    assert await cli(client, pool, "grant", str(user.user_id), "900", "--reason", "reaching chapter 3 in a test") == 0
    await settled(client, user.user_id)
    await user.press(f06["message_id"], user.button(f06, "Continuar"))
    f07 = (await screen_after(user, "bot_edit"))[-1]
    assert f07["message_id"] == f06["message_id"]
    await user.press(f07["message_id"], pressing(f07, "pick.c07_open"))  # → f08, a photo
    f08 = (await screen_after(user, "bot_edit_media"))[-1]
    assert f08["message_id"] == f07["message_id"] and f08["type"] == "photo" and not f08["has_spoiler"]

    # f10's VIP door: the teaser shows the VIP chapter's picture blurred, the buttons under it.
    await user.press(f08["message_id"], user.button(f08, "Continuar"))
    shown = await screen_after(user, "bot_message")
    f10 = shown[-1]
    await user.press(f10["message_id"], pressing(f10, "pick.c10_door"))
    teaser = (await screen_after(user, "bot_edit_media"))[-1]
    assert teaser["type"] == "photo" and teaser["has_spoiler"] and "El cuarto cerrado" in teaser["caption"]
    assert "Hazte VIP" in teaser["caption"]

    # VIP bought with Stars: the same door opens on the VIP fragment's video, in place of the text.
    invoice = await vip_invoice(user, teaser)  # its 💎 VIP button, as the menu's
    paid = await pay_invoice(user, invoice)
    assert paid["ok"]
    await user.next_saying("VIP")
    await user.send("/diana")
    menu = await next_with_button(user, "Continuar Historia")
    await user.press(menu["message_id"], user.button(menu, "Continuar Historia"))
    f10 = (await screen_after(user, "bot_edit"))[-1]
    await user.press(f10["message_id"], pressing(f10, "pick.c10_door"))
    shown = await screen_after(user, "bot_edit_media")
    f15 = shown[-1]
    assert f15["message_id"] == f10["message_id"], shown
    assert f15["type"] == "video" and not f15["has_spoiler"] and "El cuarto cerrado" in f15["caption"]


async def test_media_is_uploaded_once_and_a_lost_file_id_is_uploaded_again(
    bot_process: subprocess.Popen[bytes],
    emulator: BotAPIEmulator, http: aiohttp.ClientSession, pool: asyncpg.Pool,
) -> None:  # fmt: skip
    async def reaches_f01(name: str) -> dict[str, Any]:
        user = EmulatedUser(http, emulator.base_url, new_user_id(), first_name=name)
        menu = await onboard(user)
        await user.press(menu["message_id"], user.button(menu, "Continuar Historia"))
        [shown] = await screen_after(user, "bot_edit_media")
        return shown

    first = await reaches_f01("Ana")
    uploads = stored_photo(emulator, "puerta_verde.jpg")
    assert uploads >= 1
    second = await reaches_f01("Bea")
    assert second["file_unique_id"] == first["file_unique_id"], "the same file, sent again by its file_id"
    assert stored_photo(emulator, "puerta_verde.jpg") == uploads, "not uploaded a second time"

    # Telegram no longer knows the file_id (dropped): the photo is uploaded again, and its new file_id kept.
    lost = await pool.fetchval("SELECT file_id FROM media_files WHERE key = 'puerta_verde'")
    for size in emulator.files.pop(lost).sizes:
        emulator.files.pop(size, None)
    left = stored_photo(emulator, "puerta_verde.jpg")
    third = await reaches_f01("Carla")
    assert third["type"] == "photo" and third["file_unique_id"] != first["file_unique_id"]
    assert stored_photo(emulator, "puerta_verde.jpg") == left + 1

    async def kept() -> bool:
        file_id = await pool.fetchval("SELECT file_id FROM media_files WHERE key = 'puerta_verde'")
        return bool(file_id != lost)

    assert await eventually(kept)


async def test_screens_that_want_the_same_new_file_at_once_upload_it_once(
    emulator: BotAPIEmulator, telegram_bot: Bot, pool: asyncpg.Pool
) -> None:
    """A crowd at a new photo (after a deploy, a broadcast) waits for one upload and is sent its file_id."""
    readers = [new_user_id() for _ in range(5)]
    for reader in readers:
        await emulator.user_sends_text(reader, "hola", first_name="Ana")  # the private chat exists
    screens = ScreenSender(MediaLibrary(pool, SHIPPED_MEDIA))
    photo = ScreenMedia(key=f"crowd_{new_user_id()}", kind="photo", file="vela_3.jpg")
    before = stored_photo(emulator, "vela_3.jpg")
    screen = Screen(key="menu.greeting.welcome", params={"name": "Ana"}, media=[photo])
    sent = await asyncio.gather(*(screens.send(telegram_bot, reader, screen, "es") for reader in readers))
    assert len({message.photo[-1].file_unique_id for message in sent if message.photo}) == 1
    assert stored_photo(emulator, "vela_3.jpg") == before + 1
