"""The bot's Bot API session: what keeps its calls cheap under load (see benchmarks/load.py)."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from aiogram.methods import GetMe, Response

from adapters.telegram import create_bot
from tests import hermetic
from tools.emulator import BotAPIEmulator


async def test_the_class_an_answer_is_parsed_with_outlives_garbage_collection(emulator: BotAPIEmulator) -> None:
    """pydantic holds ``Response[...]`` classes weakly; rebuilding one after each collection cost 2-15 ms a call."""
    bot = create_bot(hermetic.settings(TELEGRAM_API_BASE=emulator.base_url))
    try:
        assert (await bot.get_me()).is_bot
    finally:
        await bot.session.close()
    # Made here as aiogram makes it, inside a function (pydantic pins classes made at module level itself).
    returning: Any = GetMe.__returning__
    answer_type = weakref.ref(Response[returning])
    gc.collect()
    assert answer_type() is not None, "the session holds it: the next getMe reuses it"
