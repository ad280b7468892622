"""Who may run admin commands: configured admin ids only; everyone else is refused and audited."""

from __future__ import annotations

import asyncpg
from aiogram.types import Message, User

from bot.texts import language_of, t
from infra.settings import Settings


async def admin_only(message: Message, settings: Settings, pool: asyncpg.Pool, what: str) -> bool:
    """True for an admin; anyone else is told the command is not theirs, and the attempt is audited."""
    assert message.from_user is not None
    if await admin_or_audited(message.from_user, settings, pool, what):
        return True
    await message.answer(t("admin.refused", language_of(message.from_user.language_code)))
    return False


async def admin_or_audited(user: User, settings: Settings, pool: asyncpg.Pool, what: str) -> bool:
    """True for an admin; anyone else's attempt is audited, and the caller decides what they are shown."""
    if user.id in settings.admin_ids:
        return True
    await pool.execute(
        "INSERT INTO audit_log (actor, action, subject, reason) VALUES ($1, $2, NULL, 'not an admin')",
        f"user:{user.id}",
        f"{what} refused",
    )
    return False
