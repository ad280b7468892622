"""Who may run admin commands and buttons: configured admin ids only; everyone else is refused and audited.

A handler belongs to admins by its flag, ``flags={"admin": AdminOnly("refund")}``, on a router made by
``guarded_router``. The gate, an inner middleware of that router, checks the flag once the handler's filters
have matched: an update meant for another feature is never audited, no admin handler can forget the check,
and the router keeps its gate in whichever dispatcher includes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.dispatcher.event.bases import NextMiddlewareType, SkipHandler
from aiogram.dispatcher.flags import get_flag
from aiogram.types import CallbackQuery, Message, TelegramObject, User

from adapters.audit import write_audit
from adapters.texts import language_of, t
from bot.telemetry import mark_refused
from infra.settings import Settings


@dataclass(frozen=True)
class AdminOnly:
    """The flag of an admin's handler: a refused attempt is audited as ``"<action> refused"``."""

    action: str
    # A non-admin's attempt goes on to the next matching handler instead of being refused (/admin shows
    # anyone else the usual menu, as if the command did not exist).
    others_fall_through: bool = False
    # The command may be the caption of media the admin sends themselves (a photo with "/publicar ..."); a
    # forwarded message is never the admin's command.
    captions: bool = False


class AdminGate(BaseMiddleware):
    """Runs a flagged handler for admins only; anyone else is told it is not theirs, and the attempt audited."""

    async def __call__(
        self,
        handler: NextMiddlewareType[TelegramObject],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        gate: AdminOnly | None = get_flag(data, "admin")
        if gate is None:
            return await handler(event, data)
        settings: Settings = data["settings"]
        user: User | None = data.get("event_from_user")
        if user is not None and user.id in settings.admin_ids and not _not_typed(event, captions=gate.captions):
            return await handler(event, data)
        if user is not None and user.id in settings.admin_ids:
            # A stranger's words forwarded by an admin, or a command in a caption: never run as the admin's command.
            await write_audit(data["pool"], f"admin:{user.id}", f"{gate.action} refused", None,
                              "a forwarded message or a caption, not the admin's own typed command")  # fmt: skip
            assert isinstance(event, Message)
            await event.answer(t("admin.typed_only", language_of(user.language_code)))
            return None
        # What a forged press tried is kept: the button's data names the broadcast, user or upload.
        tried: dict[str, object] = (
            {"callback_data": event.data} if isinstance(event, CallbackQuery) and event.data else {}
        )
        mark_refused(data)
        actor = f"user:{user.id}" if user else "unknown"
        await write_audit(data["pool"], actor, f"{gate.action} refused", None, "not an admin", tried)
        if gate.others_fall_through:
            raise SkipHandler
        refusal = t("admin.refused", language_of(user.language_code if user else None))
        if isinstance(event, CallbackQuery):
            await event.answer(refusal, show_alert=True)
        elif isinstance(event, Message):
            await event.answer(refusal)
        return None


def _not_typed(event: TelegramObject, *, captions: bool = False) -> bool:
    """A command the admin did not type themselves: forwarded from someone, or written as an attachment's caption
    (unless the command takes media, ``captions``, and it is the caption of a photo, video, voice note or audio:
    a file's caption is still no command)."""
    if not isinstance(event, Message):
        return False
    words = event.text if event.text is not None else event.caption
    postable = captions and any((event.photo, event.video, event.animation, event.voice, event.audio))
    return bool(words and words.startswith("/")) and (event.forward_origin is not None
                                                      or (event.text is None and not postable))  # fmt: skip


def guarded_router(name: str) -> Router:
    """A feature's router whose handlers flagged ``AdminOnly`` run for admins only, whatever event they take."""
    router = Router(name=name)
    gate = AdminGate()
    for event, observer in router.observers.items():
        if event not in ("update", "error"):  # the dispatcher's own, and errors of handlers already let in
            observer.middleware(gate)
    return router
