"""Admins' media through the real bot: /media registers what the content names, /publicar posts a photo or an album
with reaction buttons, /difundir sends a photo to a segment, protected by default; bad input changes nothing."""

from __future__ import annotations

import subprocess
from typing import Any

import aiohttp
import asyncpg
import pytest

from adapters.content_store import ContentRefused, activate, parse_content
from adapters.media_library import SHIPPED_MEDIA, registered_media_problems
from infra.settings import EMULATOR_COMMUNITY_CHANNEL
from tests.helpers import eventually, new_user_id
from tests.telegram import EmulatedUser, onboard
from tests.test_community_end_to_end import ADMIN, community_bot  # noqa: F401  (the real bot, with an admin)
from tests.test_content_checks import as_text, fragment, shipped
from tools.emulator import BotAPIEmulator

PHOTO = (SHIPPED_MEDIA / "vela_1.jpg").read_bytes()
OTHER_PHOTO = (SHIPPED_MEDIA / "vela_2.jpg").read_bytes()
VOICE = (SHIPPED_MEDIA / "susurro.ogg").read_bytes()


async def channel_entries(user: EmulatedUser, *kinds: str, after: int = 0) -> list[dict[str, Any]]:
    return [e for e in await user.transcript(chat_id=EMULATOR_COMMUNITY_CHANNEL, after=after)
            if e["kind"] in kinds]  # fmt: skip


async def test_admins_register_media_under_a_key_the_content_can_name(
    community_bot: subprocess.Popen[bytes],  # noqa: F811
    emulator: BotAPIEmulator, http: aiohttp.ClientSession, pool: asyncpg.Pool,
) -> None:  # fmt: skip
    admin = EmulatedUser(http, emulator.base_url, ADMIN, first_name="Admin")
    fan = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Nora")

    async def registered() -> list[str]:
        return [row["key"] for row in await pool.fetch("SELECT key FROM media_files WHERE registered_by IS NOT NULL")]

    # Bad input: a clear answer, nothing kept.
    await admin.send_media("photo", "playa.jpg", PHOTO, caption="/media Foto Playa!")
    assert "no sirve como clave" in (await admin.next_from_bot("bot_message"))["text"]
    await admin.send("/media playa")
    assert "No veo ningún medio" in (await admin.next_from_bot("bot_message"))["text"]
    await admin.send_media("photo", "puerta.jpg", PHOTO, caption="/media puerta_verde")
    assert "archivo que trae el contenido" in (await admin.next_from_bot("bot_message"))["text"]
    album = await admin.send_album([("photo", "a.jpg", PHOTO), ("photo", "b.jpg", OTHER_PHOTO)],
                                   caption="/media dos_fotos")  # fmt: skip
    assert len(album["update_ids"]) == 2
    assert "un solo medio" in (await admin.next_from_bot("bot_message"))["text"]
    await fan.send_media("photo", "mia.jpg", PHOTO, caption="/media mia")
    assert "solo para quienes administran" in (await fan.next_from_bot("bot_message"))["text"]
    assert await registered() == []

    # A photo with /media as its caption, and a voice note answered with /media: each kept under its key.
    await admin.send_media("photo", "playa.jpg", PHOTO, caption="/media foto_playa")
    saved = await admin.next_from_bot("bot_message")
    assert "Guardé la foto como foto_playa" in saved["text"] and "kind: photo" in saved["text"]
    voice = await admin.send_media("voice", "hola.ogg", VOICE, duration=6)
    assert "/media clave" in (await admin.next_from_bot("bot_message"))["text"], "what the admin can do with it"
    await admin.send("/media saludo", reply_to=voice["message_id"])
    assert "Guardé la nota de voz como saludo" in (await admin.next_from_bot("bot_message"))["text"]
    assert sorted(await registered()) == ["foto_playa", "saludo"]
    row = await pool.fetchrow("SELECT kind, registered_by, size_bytes FROM media_files WHERE key = 'saludo'")
    assert row is not None and dict(row) == {"kind": "voice", "registered_by": ADMIN, "size_bytes": len(VOICE)}
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'register media'") == 2
    await admin.send("/media")
    listing = await admin.next_from_bot("bot_message")
    assert "foto_playa — la foto" in listing["text"] and "saludo — la nota de voz" in listing["text"]

    # Content may name registered media (as the kind it is); unregistered or the wrong kind is refused at activation.
    document = shipped()
    document["media"] += [{"key": "foto_playa", "kind": "photo"}, {"key": "saludo", "kind": "voice"}]
    fragment(document, "f02")["media"] = ["foto_playa"]
    assert await registered_media_problems(pool, parse_content(as_text(document)).content) == []
    document["media"] += [{"key": "nadie", "kind": "photo"}]
    next(m for m in document["media"] if m["key"] == "saludo")["kind"] = "audio"
    before = await pool.fetchval("SELECT count(*) FROM content_versions")
    async with pool.acquire() as conn:
        with pytest.raises(ContentRefused) as refused:
            await activate(conn, parse_content(as_text(document)))
    assert refused.value.problems == [
        "media saludo is registered as voice, not audio",
        "media nadie has no file and nobody registered it: an admin sends it to the bot with /media nadie, or the "
        "content ships it under content/media/",
    ]
    assert await pool.fetchval("SELECT count(*) FROM content_versions") == before


async def test_posts_with_a_photo_or_an_album_carry_reactions_and_are_protected(
    community_bot: subprocess.Popen[bytes],  # noqa: F811
    emulator: BotAPIEmulator, http: aiohttp.ClientSession, pool: asyncpg.Pool,
) -> None:  # fmt: skip
    admin = EmulatedUser(http, emulator.base_url, ADMIN, first_name="Admin")
    fan = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Lola")
    await onboard(fan)

    # A photo with the command as its caption: the post is the photo, the words under it, the reactions below.
    await admin.send_media("photo", "luna.jpg", PHOTO, caption="/publicar Esta noche, solo para ustedes 🌙")
    assert "Publicado en el canal" in (await admin.next_from_bot("bot_message"))["text"]
    [post] = await channel_entries(fan, "bot_photo")
    assert post["caption"] == "Esta noche, solo para ustedes 🌙" and post["protected"]
    assert [b["text"] for b in post["buttons"][0]] == ["❤️", "🔥", "💋"]
    assert await pool.fetchval("SELECT media_kinds FROM community_posts WHERE message_id = $1",
                               post["message_id"]) == ["photo"]  # fmt: skip
    # Protected: a fan cannot forward it; reacting under it earns besitos as under any post.
    with pytest.raises(AssertionError, match="protected"):
        await fan.forward(EMULATOR_COMMUNITY_CHANNEL, post["message_id"])
    pressed = await fan.press(post["message_id"], post["buttons"][0][0]["callback_data"],
                              chat_id=EMULATOR_COMMUNITY_CHANNEL)  # fmt: skip
    assert "+2 besitos" in (await fan.callback_answer(pressed["callback_query_id"]))["text"]

    # An album answered with /publicar: the album, then its words with the reactions (an album carries no buttons).
    album = await admin.send_album([("photo", "a.jpg", PHOTO), ("photo", "b.jpg", OTHER_PHOTO)])
    assert "/publicar texto" in (await admin.next_from_bot("bot_message"))["text"]
    await admin.send("/publicar Dos velas, dos secretos", reply_to=album["message_ids"][1])
    assert "Publicado en el canal" in (await admin.next_from_bot("bot_message"))["text"]
    [group] = await channel_entries(fan, "bot_media_group")
    assert [item["type"] for item in group["items"]] == ["photo", "photo"] and group["protected"]
    text_post = (await channel_entries(fan, "bot_message"))[-1]
    assert text_post["text"] == "Dos velas, dos secretos" and text_post["seq"] > group["seq"]
    assert [b["text"] for b in text_post["buttons"][0]] == ["❤️", "🔥", "💋"]

    # An album sent with /publicar as its caption (on its second photo, as some clients put it): the same.
    await admin.send_album([("photo", "c.jpg", OTHER_PHOTO), ("photo", "d.jpg", PHOTO)],
                           caption="/publicar Otra noche", caption_on=1)  # fmt: skip
    assert "Publicado en el canal" in (await admin.next_from_bot("bot_message"))["text"]
    assert len(await channel_entries(fan, "bot_media_group")) == 2
    assert (await channel_entries(fan, "bot_message"))[-1]["text"] == "Otra noche"

    # Bad input changes nothing: an album without words, a file.
    posts = await pool.fetchval("SELECT count(*) FROM community_posts")
    album = await admin.send_album([("photo", "e.jpg", PHOTO), ("photo", "f.jpg", OTHER_PHOTO)])
    await admin.next_from_bot("bot_message")  # what it can become
    await admin.send("/publicar", reply_to=album["message_ids"][0])
    assert "un álbum necesita texto" in (await admin.next_from_bot("bot_message"))["text"]
    await admin.send_document("aviso.pdf", b"%PDF-1.4", caption="/publicar mira")
    assert "como pie de un archivo" in (await admin.next_from_bot("bot_message"))["text"]
    assert await pool.fetchval("SELECT count(*) FROM community_posts") == posts

    # An album answered at once, while its last items are still arriving: all of it is posted.
    album = await admin.send_album([("photo", "g.jpg", PHOTO), ("photo", "h.jpg", OTHER_PHOTO),
                                    ("photo", "i.jpg", PHOTO)])  # fmt: skip
    await admin.send("/publicar Tres velas", reply_to=album["message_ids"][0])
    await admin.next_saying("Publicado en el canal")
    groups = await channel_entries(fan, "bot_media_group")
    assert [item["type"] for item in groups[-1]["items"]] == ["photo", "photo", "photo"]
    assert (await channel_entries(fan, "bot_message"))[-1]["text"] == "Tres velas"


async def test_a_broadcast_with_a_photo_reaches_the_segment_protected(
    community_bot: subprocess.Popen[bytes],  # noqa: F811
    emulator: BotAPIEmulator, http: aiohttp.ClientSession, pool: asyncpg.Pool,
) -> None:  # fmt: skip
    admin = EmulatedUser(http, emulator.base_url, ADMIN, first_name="Admin")
    fan = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Mar")
    await onboard(fan)

    await admin.send_media("photo", "regalo.jpg", PHOTO, caption="/difundir todos Un regalo para ti 💋")
    preview = await admin.next_from_bot("bot_photo")
    assert preview["caption"] == "Un regalo para ti 💋" and preview["protected"]
    confirm = await admin.next_saying("Llegará a")
    await admin.press(confirm["message_id"], admin.button(confirm, "Confirmar"))
    await admin.next_saying("en marcha")

    async def delivered() -> dict[str, Any] | None:
        photos = [e for e in await fan.transcript() if e["kind"] == "bot_photo"]
        return photos[-1] if photos else None

    photo = await eventually(delivered, within=60)
    assert photo is not None and photo["caption"] == "Un regalo para ti 💋" and photo["protected"]
    assert photo["file_unique_id"] == preview["file_unique_id"]
    details = await pool.fetchval("SELECT details FROM audit_log WHERE action = 'broadcast' ORDER BY id DESC LIMIT 1")
    assert '"media": ["photo"]' in details
