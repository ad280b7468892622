"""The emulator's media speak Telegram's protocol to the real aiogram Bot: uploads, file ids, albums, edits,
copies, protected content, users' photos and paid media bought with Stars."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaAudio,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    InputPaidMediaPhoto,
    InputPaidMediaVideo,
    MessageOriginChannel,
    PaidMediaPhoto,
    PaidMediaVideo,
    ReplyParameters,
    TransactionPartnerUser,
    Update,
)

from tests.telegram import EmulatedUser
from tools.emulator import BotAPIEmulator
from tools.emulator.files import Upload

TOKEN = "123456:MEDIA-TOKEN"
CHANNEL = -1001000000001
BOT_ID = 100000001


def png(width: int, height: int) -> bytes:
    """A valid PNG of that size (black, RGB), small however big it is."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    rows = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def jpeg_header(width: int, height: int) -> bytes:
    """The start of a baseline JPEG: SOI, a JFIF APP0 segment and the SOF0 frame header that names its size."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def keyboard(data: str = "go") -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Ver", callback_data=data)]])


@pytest.fixture
async def bot(emulator: BotAPIEmulator) -> AsyncIterator[Bot]:
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url)))
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
async def ana(http: aiohttp.ClientSession, emulator: BotAPIEmulator) -> EmulatedUser:
    """A user who already wrote to the bot (so the bot may send to her)."""
    user = EmulatedUser(http, emulator.base_url, 7, first_name="Ana", username="ana")
    await user.send("hola")
    return user


async def updates(bot: Bot, offset: int | None = None) -> list[Update]:
    """Every pending update (the bot's getUpdates, without confirming any)."""
    return await bot.get_updates(offset=offset, timeout=0)


async def download(http: aiohttp.ClientSession, emulator: BotAPIEmulator, bot: Bot, file_id: str) -> bytes:
    file = await bot.get_file(file_id)
    assert file.file_path is not None
    async with http.get(f"{emulator.base_url}/file/bot{TOKEN}/{file.file_path}") as response:
        assert response.status == 200
        return await response.read()


def kinds(emulator: BotAPIEmulator, chat_id: int) -> list[str]:
    return [entry["kind"] for entry in emulator.chats[chat_id].transcript]


class TestSendingFiles:
    async def test_a_photo_upload_its_sizes_flags_and_file_id_reuse(self, http: aiohttp.ClientSession, bot: Bot,
                                                                    emulator: BotAPIEmulator, ana: EmulatedUser) -> None:  # fmt: skip
        content = png(400, 300)
        sent = await bot.send_photo(7, BufferedInputFile(content, "foto.png"), caption="<b>Hola</b> Ana",
                                    parse_mode="HTML", has_spoiler=True, show_caption_above_media=True,
                                    protect_content=True, reply_markup=keyboard())  # fmt: skip
        assert sent.photo is not None and sent.from_user is not None and sent.from_user.id == BOT_ID
        # Telegram's thumbnails smaller than the image, then the image itself.
        assert [(size.width, size.height) for size in sent.photo] == [(90, 68), (320, 240), (400, 300)]
        assert all(size.file_size == len(content) for size in sent.photo)
        assert len({size.file_unique_id for size in sent.photo}) == 3
        assert sent.caption == "Hola Ana" and sent.caption_entities and sent.caption_entities[0].type == "bold"
        assert sent.has_media_spoiler and sent.has_protected_content and sent.show_caption_above_media
        assert sent.reply_markup is not None
        entry = emulator.chats[7].transcript[-1]
        assert entry["kind"] == "bot_photo" and entry["message_id"] == sent.message_id
        assert {k: entry[k] for k in ("type", "file_id", "width", "height", "caption", "html", "has_spoiler",
                                      "protected", "caption_above")} == {
            "type": "photo", "file_id": sent.photo[-1].file_id, "width": 400, "height": 300, "caption": "Hola Ana",
            "html": "<b>Hola</b> Ana", "has_spoiler": True, "protected": True, "caption_above": True}  # fmt: skip
        assert entry["buttons"] == [[{"text": "Ver", "callback_data": "go", "url": None}]]
        # The file stays with Telegram: getFile and the file URL give the bytes back, its file_id sends it again.
        assert await download(http, emulator, bot, sent.photo[-1].file_id) == content
        again = await bot.send_photo(CHANNEL, sent.photo[-1].file_id, caption="De nuevo")
        assert again.photo is not None and again.photo[-1].file_unique_id == sent.photo[-1].file_unique_id
        assert again.chat.type == "channel" and again.from_user is None and not again.has_protected_content
        assert emulator.chats[CHANNEL].transcript[-1]["kind"] == "bot_photo"

    async def test_dimensions_come_from_jpeg_and_png_headers(self, bot: Bot, ana: EmulatedUser) -> None:
        jpeg = await bot.send_photo(7, BufferedInputFile(jpeg_header(64, 48), "foto.jpg"))
        assert jpeg.photo is not None and [(s.width, s.height) for s in jpeg.photo] == [(64, 48)]
        tall = await bot.send_photo(7, BufferedInputFile(png(20, 200), "alta.png"))
        assert tall.photo is not None and [(s.width, s.height) for s in tall.photo] == [(9, 90), (20, 200)]

    async def test_video_animation_voice_and_audio(self, http: aiohttp.ClientSession, bot: Bot,
                                                   emulator: BotAPIEmulator, ana: EmulatedUser) -> None:  # fmt: skip
        video = await bot.send_video(7, BufferedInputFile(b"\x00\x00\x00\x18ftypmp42" + b"v" * 50, "clip.mp4"),
                                     width=1280, height=720, duration=12, caption="Mira", has_spoiler=True)  # fmt: skip
        assert video.video is not None and (video.video.width, video.video.height, video.video.duration) == (1280,
                                                                                                           720, 12)  # fmt: skip
        assert video.video.mime_type == "video/mp4" and video.video.file_name == "clip.mp4" and video.has_media_spoiler
        animation = await bot.send_animation(7, BufferedInputFile(b"GIF89a" + b"a" * 20, "baile.mp4"), duration=3)
        assert animation.animation is not None and animation.animation.duration == 3
        voice = await bot.send_voice(7, BufferedInputFile(b"OggS" + b"o" * 30, "nota.ogg"), duration=5,
                                     caption="Escucha")  # fmt: skip
        assert voice.voice is not None and (voice.voice.duration, voice.voice.mime_type) == (5, "audio/ogg")
        assert voice.caption == "Escucha"
        audio = await bot.send_audio(7, BufferedInputFile(b"ID3" + b"m" * 30, "cancion.mp3"), title="Canción",
                                     performer="Diana", duration=180)  # fmt: skip
        assert audio.audio is not None and (audio.audio.title, audio.audio.performer) == ("Canción", "Diana")
        assert kinds(emulator, 7)[-4:] == ["bot_video", "bot_animation", "bot_voice", "bot_audio"]
        entry = emulator.chats[7].transcript[-2]
        assert (entry["type"], entry["duration"], entry["caption"]) == ("voice", 5, "Escucha")
        assert await download(http, emulator, bot, voice.voice.file_id) == b"OggS" + b"o" * 30
        # A file_id sends again only as its own kind.
        assert (await bot.send_voice(7, voice.voice.file_id)).voice is not None
        with pytest.raises(TelegramBadRequest, match="type of file mismatch"):
            await bot.send_video(7, voice.voice.file_id)

    async def test_a_document_keeps_its_transcript_shape(self, http: aiohttp.ClientSession, bot: Bot,
                                                         emulator: BotAPIEmulator, ana: EmulatedUser) -> None:  # fmt: skip
        sent = await bot.send_document(7, BufferedInputFile(b'{"nivel": 3}', "progreso.json"), caption="<i>Tu</i>",
                                       parse_mode="HTML", protect_content=True)  # fmt: skip
        assert sent.document is not None and sent.document.mime_type == "application/json"
        assert sent.has_protected_content
        entry = emulator.chats[7].transcript[-1]
        assert {k: entry[k] for k in ("kind", "file_name", "document_text", "caption", "html", "protected")} == {
            "kind": "bot_document", "file_name": "progreso.json", "document_text": '{"nivel": 3}', "caption": "Tu",
            "html": "<i>Tu</i>", "protected": True}  # fmt: skip
        assert await download(http, emulator, bot, sent.document.file_id) == b'{"nivel": 3}'

    async def test_files_telegram_refuses_leave_nothing(self, http: aiohttp.ClientSession, bot: Bot,
                                                        emulator: BotAPIEmulator, ana: EmulatedUser) -> None:  # fmt: skip
        photo = BufferedInputFile(png(10, 10), "foto.png")
        chat = emulator.chats[7]
        before, next_id, files = list(chat.transcript), chat.next_message_id, len(emulator.files)
        with pytest.raises(TelegramBadRequest, match="message caption is too long"):
            await bot.send_photo(7, photo, caption="x" * 1025)
        with pytest.raises(TelegramBadRequest, match="message caption is too long"):
            # 1025 characters once the entities are parsed out: the tags do not count, the text does.
            await bot.send_video(7, BufferedInputFile(b"v", "v.mp4"), caption="<b>" + "x" * 1025 + "</b>",
                                 parse_mode="HTML")  # fmt: skip
        for unknown in ("no-such-file-id", "AgACAgIAAxkBAAIzzzz", "attach://nada"):
            with pytest.raises(TelegramBadRequest, match="wrong file identifier/HTTP URL specified"):
                await bot.send_photo(7, unknown)
        with pytest.raises(TelegramBadRequest, match="failed to get HTTP URL content"):
            await bot.send_photo(7, "https://example.com/foto.jpg")
        with pytest.raises(TelegramBadRequest, match="file must be non-empty"):
            await bot.send_photo(7, BufferedInputFile(b"", "vacia.png"))
        with pytest.raises(TelegramBadRequest, match="PHOTO_INVALID_DIMENSIONS"):
            await bot.send_photo(7, BufferedInputFile(png(2100, 100), "panoramica.png"))
        async with http.post(f"{emulator.base_url}/bot{TOKEN}/sendPhoto", json={"chat_id": 7}) as response:
            body = await response.json()
        assert response.status == 400 and body["description"] == "Bad Request: there is no photo in the request"
        assert chat.transcript == before and chat.next_message_id == next_id
        assert len(emulator.files) == files
        assert (await bot.send_photo(7, photo, caption="x" * 1024)).caption == "x" * 1024

    async def test_telegram_size_limits(self, bot: Bot, ana: EmulatedUser) -> None:
        big_photo = png(100, 100) + b"\x00" * (10 * 1024 * 1024)
        with pytest.raises(TelegramBadRequest, match="PHOTO_SAVE_FILE_INVALID"):
            await bot.send_photo(7, BufferedInputFile(big_photo, "grande.png"))
        # Uploads go up to 50 MB, downloads by bots only up to 20 MB.
        sent = await bot.send_document(7, BufferedInputFile(b"\x00" * (20 * 1024 * 1024 + 1), "enorme.bin"))
        assert sent.document is not None
        with pytest.raises(TelegramBadRequest, match="file is too big"):
            await bot.get_file(sent.document.file_id)

    async def test_replies(self, bot: Bot, emulator: BotAPIEmulator, ana: EmulatedUser) -> None:
        hola = emulator.chats[7].transcript[0]["message_id"]
        sent = await bot.send_photo(7, BufferedInputFile(png(8, 8), "f.png"),
                                    reply_parameters=ReplyParameters(message_id=hola))  # fmt: skip
        assert sent.reply_to_message is not None and sent.reply_to_message.text == "hola"
        assert emulator.chats[7].transcript[-1]["reply_to_message_id"] == hola
        with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
            await bot.send_photo(7, BufferedInputFile(png(8, 8), "f.png"),
                                 reply_parameters=ReplyParameters(message_id=999))  # fmt: skip
        lenient = await bot.send_photo(7, BufferedInputFile(png(8, 8), "f.png"), reply_parameters=ReplyParameters(
            message_id=999, allow_sending_without_reply=True))  # fmt: skip
        assert lenient.reply_to_message is None


class TestAlbums:
    async def test_an_album_of_photos_and_a_video(self, http: aiohttp.ClientSession, bot: Bot,
                                                  emulator: BotAPIEmulator, ana: EmulatedUser) -> None:  # fmt: skip
        first = await bot.send_photo(7, BufferedInputFile(png(50, 50), "a.png"))
        assert first.photo is not None
        album = await bot.send_media_group(7, media=[
            InputMediaPhoto(media=first.photo[-1].file_id, caption="<b>uno</b>", parse_mode="HTML"),
            InputMediaPhoto(media=BufferedInputFile(png(30, 20), "b.png"), caption="dos", has_spoiler=True),
            InputMediaVideo(media=BufferedInputFile(b"video", "c.mp4"), width=320, height=240, duration=4),
        ], protect_content=True)  # fmt: skip
        assert len(album) == 3 and len({m.media_group_id for m in album}) == 1 and album[0].media_group_id
        assert [m.message_id for m in album] == list(range(album[0].message_id, album[0].message_id + 3))
        assert album[0].photo and album[0].photo[-1].file_unique_id == first.photo[-1].file_unique_id
        assert album[0].caption == "uno" and album[0].caption_entities and album[1].has_media_spoiler
        assert album[2].video is not None and album[2].video.duration == 4 and album[2].caption is None
        assert all(m.has_protected_content for m in album)
        entry = emulator.chats[7].transcript[-1]
        assert entry["kind"] == "bot_media_group" and entry["media_group_id"] == album[0].media_group_id
        assert entry["message_ids"] == [m.message_id for m in album] and entry["protected"]
        assert [(i["type"], i["caption"], i["html"], i["has_spoiler"]) for i in entry["items"]] == [
            ("photo", "uno", "<b>uno</b>", False), ("photo", "dos", None, True), ("video", None, None, False)]  # fmt: skip
        assert await download(http, emulator, bot, entry["items"][1]["file_id"]) == png(30, 20)
        documents = await bot.send_media_group(7, media=[
            InputMediaDocument(media=BufferedInputFile(b"1", "uno.txt")),
            InputMediaDocument(media=BufferedInputFile(b"2", "dos.txt"))])  # fmt: skip
        assert [m.document.file_name for m in documents if m.document] == ["uno.txt", "dos.txt"]

    async def test_albums_telegram_refuses(self, http: aiohttp.ClientSession, bot: Bot, emulator: BotAPIEmulator,
                                           ana: EmulatedUser) -> None:  # fmt: skip
        def photos(count: int) -> list[Any]:
            return [InputMediaPhoto(media=BufferedInputFile(png(4, 4), f"{i}.png")) for i in range(count)]

        transcript = list(emulator.chats[7].transcript)
        with pytest.raises(TelegramBadRequest, match="too many messages to send as an album"):
            await bot.send_media_group(7, media=photos(11))
        with pytest.raises(TelegramBadRequest, match="there are no messages to send"):
            await bot.send_media_group(7, media=[])
        with pytest.raises(TelegramBadRequest, match="document can't be mixed with other media types"):
            await bot.send_media_group(
                7, media=[*photos(1), InputMediaDocument(media=BufferedInputFile(b"d", "d.txt"))]
            )
        with pytest.raises(TelegramBadRequest, match="audio can't be mixed with other media types"):
            await bot.send_media_group(7, media=[*photos(1), InputMediaAudio(media=BufferedInputFile(b"a", "a.mp3"))])
        # aiogram itself refuses an animation in an album; a raw request gets Telegram's refusal.
        async with http.post(f"{emulator.base_url}/bot{TOKEN}/sendMediaGroup", json={
            "chat_id": 7, "media": [{"type": "photo", "media": "x"}, {"type": "animation", "media": "x"}]}) as response:  # fmt: skip
            assert "can't be used in sendMediaGroup" in (await response.json())["description"]
        with pytest.raises(TelegramBadRequest, match="message caption is too long"):
            await bot.send_media_group(7, media=[*photos(1), InputMediaPhoto(media=BufferedInputFile(png(4, 4), "c.png"),
                                                                            caption="x" * 1025)])  # fmt: skip
        assert emulator.chats[7].transcript == transcript
        # Telegram sends a one-item album as a plain message (its documentation says 2-10; its server takes 1).
        [single] = await bot.send_media_group(7, media=photos(1))
        assert single.photo is not None and single.media_group_id is None
        # An album has no keyboard: the Bot API server ignores one.
        async with http.post(f"{emulator.base_url}/bot{TOKEN}/sendMediaGroup", json={
            "chat_id": 7, "media": [{"type": "photo", "media": single.photo[-1].file_id}] * 2,
            "reply_markup": keyboard().model_dump(exclude_none=True)}) as response:  # fmt: skip
            body = await response.json()
        assert body["ok"] and all("reply_markup" not in m for m in body["result"])


class TestEdits:
    async def test_edit_caption_and_media(self, bot: Bot, emulator: BotAPIEmulator, ana: EmulatedUser) -> None:
        sent = await bot.send_photo(7, BufferedInputFile(png(40, 40), "f.png"), caption="antes",
                                    reply_markup=keyboard())  # fmt: skip
        edited = await bot.edit_message_caption(chat_id=7, message_id=sent.message_id, caption="<i>después</i>",
                                                parse_mode="HTML", reply_markup=keyboard("next"))  # fmt: skip
        assert not isinstance(edited, bool) and edited.caption == "después" and edited.edit_date
        assert edited.photo and sent.photo and edited.photo[-1].file_id == sent.photo[-1].file_id
        entry = emulator.chats[7].transcript[-1]
        assert (entry["kind"], entry["caption"], entry["html"]) == ("bot_edit_caption", "después", "<i>después</i>")
        assert entry["buttons"][0][0]["callback_data"] == "next"
        with pytest.raises(TelegramBadRequest, match="message is not modified"):
            await bot.edit_message_caption(chat_id=7, message_id=sent.message_id, caption="<i>después</i>",
                                           parse_mode="HTML", reply_markup=keyboard("next"))  # fmt: skip
        with pytest.raises(TelegramBadRequest, match="message caption is too long"):
            await bot.edit_message_caption(chat_id=7, message_id=sent.message_id, caption="x" * 1025)
        video = InputMediaVideo(media=BufferedInputFile(b"video", "v.mp4"), caption="ahora vídeo", duration=9)
        replaced = await bot.edit_message_media(video, chat_id=7, message_id=sent.message_id, reply_markup=keyboard())
        assert not isinstance(replaced, bool) and replaced.video is not None and replaced.photo is None
        assert (replaced.caption, replaced.video.duration, replaced.message_id) == ("ahora vídeo", 9, sent.message_id)
        entry = emulator.chats[7].transcript[-1]
        assert (entry["kind"], entry["type"], entry["file_id"]) == ("bot_edit_media", "video", replaced.video.file_id)
        with pytest.raises(TelegramBadRequest, match="message is not modified"):
            await bot.edit_message_media(InputMediaVideo(media=replaced.video.file_id, caption="ahora vídeo"),
                                         chat_id=7, message_id=sent.message_id, reply_markup=keyboard())  # fmt: skip
        assert emulator.chats[7].messages[sent.message_id]["video"]["file_id"] == replaced.video.file_id

    async def test_edits_telegram_refuses(self, bot: Bot, emulator: BotAPIEmulator, ana: EmulatedUser) -> None:
        hola = emulator.chats[7].transcript[0]["message_id"]
        text = await bot.send_message(7, "solo texto")
        photo = InputMediaPhoto(media=BufferedInputFile(png(4, 4), "f.png"))
        with pytest.raises(TelegramBadRequest, match="there is no caption in the message to edit"):
            await bot.edit_message_caption(chat_id=7, message_id=text.message_id, caption="x")
        with pytest.raises(TelegramBadRequest, match="message can't be edited"):
            await bot.edit_message_caption(chat_id=7, message_id=hola, caption="x")
        with pytest.raises(TelegramBadRequest, match="message can't be edited"):
            await bot.edit_message_media(photo, chat_id=7, message_id=hola)
        with pytest.raises(TelegramBadRequest, match="message to edit not found"):
            await bot.edit_message_media(photo, chat_id=7, message_id=999)
        album = await bot.send_media_group(7, media=[InputMediaPhoto(media=BufferedInputFile(png(4, 4), "a.png")),
                                                     InputMediaPhoto(media=BufferedInputFile(png(4, 4), "b.png"))])  # fmt: skip
        with pytest.raises(TelegramBadRequest, match="can't use the media of the specified type in the album"):
            await bot.edit_message_media(InputMediaDocument(media=BufferedInputFile(b"d", "d.txt")), chat_id=7,
                                         message_id=album[0].message_id)  # fmt: skip
        # The current Bot API turns a text message into a media one.
        became = await bot.edit_message_media(photo, chat_id=7, message_id=text.message_id)
        assert not isinstance(became, bool) and became.photo and became.text is None


class TestCopiesAndProtection:
    async def test_copy_message(self, bot: Bot, emulator: BotAPIEmulator, ana: EmulatedUser) -> None:
        photo = await bot.send_photo(7, BufferedInputFile(png(16, 16), "f.png"), caption="original",
                                     protect_content=True, reply_markup=keyboard())  # fmt: skip
        copied = await bot.copy_message(CHANNEL, 7, photo.message_id, caption="<b>copia</b>", parse_mode="HTML")
        post = emulator.chats[CHANNEL].messages[copied.message_id]
        assert post["photo"] == photo.model_dump(mode="json", exclude_none=True)["photo"]
        assert post["caption"] == "copia" and post["caption_entities"][0]["type"] == "bold"
        # A copy keeps neither the keyboard nor the protection, unless asked for.
        assert "reply_markup" not in post and "has_protected_content" not in post
        entry = emulator.chats[CHANNEL].transcript[-1]
        assert entry["kind"] == "bot_photo" and entry["copy_of"] == {"chat_id": 7, "message_id": photo.message_id}
        hola = emulator.chats[7].transcript[0]["message_id"]
        text = await bot.copy_message(CHANNEL, 7, hola, protect_content=True)
        assert emulator.chats[CHANNEL].messages[text.message_id]["text"] == "hola"
        assert emulator.chats[CHANNEL].messages[text.message_id]["has_protected_content"] is True
        assert emulator.chats[CHANNEL].transcript[-1]["kind"] == "bot_message"
        same = await bot.copy_message(7, 7, photo.message_id)
        assert emulator.chats[7].messages[same.message_id]["caption"] == "original"
        with pytest.raises(TelegramBadRequest, match="message to copy not found"):
            await bot.copy_message(CHANNEL, 7, 999)

    async def test_users_cannot_forward_protected_content(self, bot: Bot, emulator: BotAPIEmulator,
                                                          ana: EmulatedUser) -> None:  # fmt: skip
        offset = (await updates(bot))[-1].update_id + 1  # past the greeting
        protected = await bot.send_photo(CHANNEL, BufferedInputFile(png(8, 8), "f.png"), protect_content=True)
        with pytest.raises(AssertionError, match="message has protected content and can't be forwarded"):
            await ana.forward(CHANNEL, protected.message_id)
        text = await bot.send_message(CHANNEL, "solo para el canal", protect_content=True)
        assert text.has_protected_content
        with pytest.raises(AssertionError, match="message has protected content and can't be forwarded"):
            await ana.forward(CHANNEL, text.message_id)
        assert emulator.chats[7].transcript[-1]["kind"] == "user_message"
        free = await bot.send_photo(CHANNEL, BufferedInputFile(png(8, 8), "g.png"), caption="compartir")
        result = await ana.forward(CHANNEL, free.message_id)
        [update] = await updates(bot, offset)
        assert update.update_id == result["update_id"] and update.message is not None
        assert isinstance(update.message.forward_origin, MessageOriginChannel)
        assert update.message.forward_origin.message_id == free.message_id
        assert update.message.photo and free.photo and update.message.photo[-1].file_id == free.photo[-1].file_id
        assert update.message.caption == "compartir"
        entry = emulator.chats[7].transcript[-1]
        assert (entry["kind"], entry["from_chat_id"], entry["forwarded_message_id"]) == ("user_forward", CHANNEL,
                                                                                          free.message_id)  # fmt: skip


class TestUsersSendingMedia:
    async def test_a_user_sends_a_photo_the_bot_can_reuse(self, http: aiohttp.ClientSession, bot: Bot,
                                                          emulator: BotAPIEmulator, ana: EmulatedUser) -> None:  # fmt: skip
        offset = (await updates(bot))[-1].update_id + 1
        content = png(500, 400)
        result = await ana.send_media("photo", "selfie.png", content, caption="mi foto")
        [update] = await updates(bot, offset)
        message = update.message
        assert update.update_id == result["update_id"] and message is not None and message.photo is not None
        assert message.from_user is not None and message.from_user.id == 7 and message.caption == "mi foto"
        assert (message.photo[-1].width, message.photo[-1].height) == (500, 400)
        assert message.photo[-1].file_id == result["file_id"]
        entry = emulator.chats[7].transcript[-1]
        assert (entry["kind"], entry["file_id"], entry["caption"]) == ("user_photo", result["file_id"], "mi foto")
        assert await download(http, emulator, bot, result["file_id"]) == content
        echoed = await bot.send_photo(CHANNEL, result["file_id"])
        assert echoed.photo and echoed.photo[-1].file_unique_id == message.photo[-1].file_unique_id
        voice = await ana.send_media("voice", "nota.ogg", b"OggS-voz", duration=7)
        [update] = await updates(bot, update.update_id + 1)
        assert update.message and update.message.voice and update.message.voice.duration == 7
        assert update.message.voice.file_id == voice["file_id"]
        document = await ana.send_media("document", "notas.txt", b"texto")
        [update] = await updates(bot, update.update_id + 1)
        assert update.message and update.message.document and update.message.document.file_id == document["file_id"]
        assert kinds(emulator, 7)[-3:] == ["user_photo", "user_voice", "user_document"]

    async def test_an_admin_posts_a_photo_in_the_channel(self, bot: Bot, emulator: BotAPIEmulator,
                                                         http: aiohttp.ClientSession) -> None:  # fmt: skip
        form = aiohttp.FormData()
        form.add_field("type", "photo")
        form.add_field("caption", "novedades")
        form.add_field("photo", png(120, 90), filename="post.png", content_type="image/png")
        async with http.post(f"{emulator.base_url}/control/channels/{CHANNEL}/posts", data=form) as response:
            result = (await response.json())["result"]
        [update] = await updates(bot)
        post = update.channel_post
        assert post is not None and post.chat.id == CHANNEL and post.sender_chat and post.sender_chat.id == CHANNEL
        assert post.photo and post.photo[-1].file_id == result["file_id"] and post.caption == "novedades"
        assert emulator.chats[CHANNEL].transcript[-1]["kind"] == "admin_post"


class TestPaidMedia:
    async def test_bought_once_with_one_update_and_one_transaction(self, bot: Bot, emulator: BotAPIEmulator,
                                                                   ana: EmulatedUser) -> None:  # fmt: skip
        offset = (await updates(bot))[-1].update_id + 1
        sent = await bot.send_paid_media(7, star_count=50, payload="pack:3", caption="<b>Exclusivo</b>",
                                         parse_mode="HTML", reply_markup=keyboard(), media=[
            InputPaidMediaPhoto(media=BufferedInputFile(png(64, 64), "p.png")),
            InputPaidMediaVideo(media=BufferedInputFile(b"video", "v.mp4"), width=640, height=480, duration=8)])  # fmt: skip
        paid = sent.paid_media
        assert paid is not None and paid.star_count == 50 and sent.caption == "Exclusivo"
        assert isinstance(paid.paid_media[0], PaidMediaPhoto) and isinstance(paid.paid_media[1], PaidMediaVideo)
        entry = emulator.chats[7].transcript[-1]
        assert (entry["kind"], entry["star_count"], entry["payload"]) == ("bot_paid_media", 50, "pack:3")
        assert [item["type"] for item in entry["items"]] == ["photo", "video"]
        locked = (await ana.sees(sent.message_id))["paid_media"]["paid_media"]
        assert locked == [{"type": "preview", "width": 64, "height": 64},
                          {"type": "preview", "width": 640, "height": 480, "duration": 8}]  # fmt: skip
        bought = await ana.buy_paid_media(sent.message_id)
        [update] = await updates(bot, offset)
        purchase = update.purchased_paid_media
        assert update.update_id == bought["update_id"] and purchase is not None
        assert purchase.from_user.id == 7 and purchase.paid_media_payload == "pack:3"
        [transaction] = (await bot.get_star_transactions()).transactions
        assert transaction.id == bought["transaction_id"] and transaction.amount == 50
        partner = transaction.source
        assert isinstance(partner, TransactionPartnerUser) and partner.transaction_type == "paid_media_payment"
        assert partner.user.id == 7 and partner.paid_media_payload == "pack:3" and partner.paid_media
        unlocked = (await ana.sees(sent.message_id))["paid_media"]["paid_media"]
        assert [item["type"] for item in unlocked] == ["photo", "video"]
        assert emulator.chats[7].transcript[-1]["kind"] == "user_paid_media_purchase"
        # The app shows bought media unlocked: there is nothing to buy twice.
        with pytest.raises(AssertionError, match="already bought"):
            await ana.buy_paid_media(sent.message_id)
        assert await updates(bot, update.update_id + 1) == []
        assert len((await bot.get_star_transactions()).transactions) == 1
        # Nobody else sees Ana's private chat; paid media cannot be copied.
        with pytest.raises(AssertionError, match="chat not found"):
            await EmulatedUser(ana.session, ana.base_url, 8).buy_paid_media(sent.message_id, chat_id=7)
        with pytest.raises(TelegramBadRequest, match="message can't be copied"):
            await bot.copy_message(CHANNEL, 7, sent.message_id)

    async def test_in_a_channel_the_stars_go_to_the_channel(self, bot: Bot, emulator: BotAPIEmulator,
                                                            http: aiohttp.ClientSession) -> None:  # fmt: skip
        bea = EmulatedUser(http, emulator.base_url, 8, first_name="Bea")
        sent = await bot.send_paid_media(CHANNEL, star_count=25000, payload="canal", protect_content=True,
                                         media=[InputPaidMediaPhoto(media=BufferedInputFile(png(8, 8), "p.png"))])  # fmt: skip
        assert sent.paid_media is not None and sent.has_protected_content
        assert (await bea.sees(sent.message_id, chat_id=CHANNEL))["paid_media"]["paid_media"][0]["type"] == "preview"
        bought = await bea.buy_paid_media(sent.message_id, chat_id=CHANNEL)
        assert bought["update_id"] is None and await updates(bot) == []
        assert (await bot.get_star_transactions()).transactions == []
        assert (await bea.sees(sent.message_id, chat_id=CHANNEL))["paid_media"]["paid_media"][0]["type"] == "photo"
        assert kinds(emulator, CHANNEL) == ["bot_paid_media"]

    @pytest.mark.parametrize(("change", "description"), [
        ({"star_count": 0}, "invalid media price specified"),
        ({"star_count": 25001}, "invalid media price specified"),
        ({"media": []}, "invalid number of paid media specified"),
        ({"media": [{"type": "photo", "media": "x"}] * 11}, "invalid number of paid media specified"),
        ({"media": [{"type": "document", "media": "x"}]}, 'type "document" is unsupported'),
        ({"payload": "ñ" * 65}, "paid media payload is too long"),
        ({"caption": "x" * 1025}, "message caption is too long"),
    ])  # fmt: skip
    async def test_paid_media_telegram_refuses(self, http: aiohttp.ClientSession, emulator: BotAPIEmulator,
                                               ana: EmulatedUser, change: dict[str, Any], description: str) -> None:  # fmt: skip
        photo = await emulator.media.user_sends_media(7, "photo", Upload("foto.png", "image/png", png(8, 8)))
        params = {"chat_id": 7, "star_count": 10, "media": [{"type": "photo", "media": photo["file_id"]}], **change}
        transcript = list(emulator.chats[7].transcript)
        async with http.post(f"{emulator.base_url}/bot{TOKEN}/sendPaidMedia", json=params) as response:
            body = await response.json()
        assert response.status == 400 and description in body["description"]
        assert emulator.chats[7].transcript == transcript
