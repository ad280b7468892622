"""A content version with items of the tests' own beside the shipped catalogue: two creator's rewards made by hand,
and a media-free message, activated over the shipped content."""

from __future__ import annotations

import json
from typing import Any, Final

import asyncpg

from adapters.content_store import activate, parse_content
from tests.helpers import shipped_content

VOICE_NOTE: Final = "nota_de_voz"
POLAROID: Final = "polaroid_firmada"
LETTER: Final = "carta"
PRICES: Final = {VOICE_NOTE: 120, POLAROID: 80, LETTER: 30}


def _item(code: str, es: str, en: str, kind: str) -> dict[str, Any]:
    return {"code": code, "name": {"es": es, "en": en},
            "description": {"es": f"{es}, hecha solo para ti, cariño.", "en": f"{en}, made just for you, darling."},
            "price": PRICES[code],
            "gives": {"kind": kind, "text": {"es": "Te la preparo con calma, pensando en ti.",
                                             "en": "I make it slowly, thinking of you."}}}  # fmt: skip


def shop_document() -> dict[str, Any]:
    document = shipped_content().model_dump(mode="json")
    document["version"] = f"{shipped_content().version}.tienda"
    # Goals on spending would pay besitos back on a purchase: the shipped ones are tested on their own.
    for kind in ("missions", "achievements"):
        document[kind] = [goal for goal in document[kind] if goal["metric"] not in ("besitos_spent", "items_bought")]
    document["shop"]["items"] += [_item(VOICE_NOTE, "Nota de voz personalizada", "A personalised voice note", "reward"),
                                  _item(POLAROID, "Polaroid firmada", "A signed polaroid", "reward"),
                                  _item(LETTER, "Carta de Diana", "A letter from Diana", "message")]  # fmt: skip
    return document


async def activate_shop(pool: asyncpg.Pool) -> int:
    """The shop's content made the active version; returns it."""
    async with pool.acquire() as conn:
        version: int = await activate(conn, parse_content(json.dumps(shop_document(), ensure_ascii=False)))
    return version
