"""/admin: the admin panel in the private chat — dashboard, content upload and activation, pointers to the commands.

Only configured admins see it; anyone else gets the normal menu, and the attempt is audited. A content
file sent as a document is checked by the same validator as ``diana content check``; a valid one is shown
as a diff against the active content and activated only when its admin confirms. Between the two, the
upload waits in Redis (bound to its admin, for :data:`PENDING_TTL`), so a bot restart does not lose it and
a stale or foreign button finds nothing to activate.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import asyncpg
from aiogram import Bot, F
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    Update,
    User,
)
from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from adapters import shop_figures
from adapters.audit import write_audit
from adapters.callbacks import CallbackPrefix
from adapters.content_checker import check_content
from adapters.content_store import ContentRefused, activate, active_version
from adapters.dashboard import Dashboard, dashboard
from adapters.dashboard_charts import Chart, dashboard_charts
from adapters.journeys import Journeys
from adapters.media_library import media_file_problems, registered_media_problems
from adapters.screens import ScreenSender
from adapters.texts import language_of, t
from bot import auction_admin, start
from bot.admin_orders import orders_button
from bot.admins import AdminOnly, guarded_router
from bot.community import MAX_POST_LENGTH
from bot.door import door_button
from infra.settings import Settings
from workflows.content import Content
from workflows.content_diff import ContentDiff, FieldChange, SectionDiff, diff

router = guarded_router(__name__)
log = logging.getLogger("diana.bot")

MAX_UPLOAD_BYTES: Final = 1024 * 1024
PENDING_TTL: Final = 3600  # seconds an upload waits for its "Activar"
PENDING_KEY: Final = "diana:admin:content-upload:{}"
# What one message shows at most of a list (Telegram's messages end at 4096 characters).
MAX_PROBLEMS: Final = 15
MAX_ITEMS: Final = 12
MAX_FRAGMENTS: Final = 40


class AdminCB(CallbackData, prefix=CallbackPrefix.ADMIN_PANEL):
    """A button of the admin panel; ``subject`` names what it acts on: a pending content upload (Activar / Cancelar),
    or the messages of the dashboard's charts, as ids joined by "." (Actualizar)."""

    action: str
    subject: str = ""


class PendingUpload(BaseModel):
    """A checked content file waiting for its admin's confirmation."""

    admin_id: int
    file_name: str
    text: str
    digest: str
    base_version: int  # the active version the diff was made against


class FromAdmin(Filter):
    """Updates from a configured admin (others fall through to the routers after this one)."""

    async def __call__(self, event: Message | CallbackQuery, settings: Settings) -> bool:
        return event.from_user is not None and event.from_user.id in settings.admin_ids


# Entry and panel ------------------------------------------------------------------------------------------


@router.message(Command("admin"), flags={"admin": AdminOnly("admin panel", others_fall_through=True)})
async def panel(message: Message) -> None:
    """/admin: the panel, for admins."""
    assert message.from_user is not None
    language = language_of(message.from_user.language_code)
    await message.answer(t("admin.panel.title", language), reply_markup=panel_keyboard(language))


@router.message(Command("admin"))
async def panel_for_others(message: Message, event_update: Update, journeys: Journeys,
                           screens: ScreenSender) -> None:  # fmt: skip
    """/admin from anyone else (audited by the gate): the usual menu, as if there were no such command."""
    await start.menu(message, event_update, journeys, screens)


def panel_keyboard(language: str) -> InlineKeyboardMarkup:
    def button(action: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=t(f"admin.panel.button.{action}", language),
                                    callback_data=AdminCB(action=action).pack())  # fmt: skip

    return InlineKeyboardMarkup(inline_keyboard=[[button("dashboard")], [button("users"), button("broadcast")],
                                                 [button("content"), button("publish")],
                                                 [button("auctions"), orders_button(language)],
                                                 [door_button(language)]])  # fmt: skip


@router.callback_query(AdminCB.filter(), flags={"admin": AdminOnly("admin panel")})
async def press(query: CallbackQuery, callback_data: AdminCB, bot: Bot, pool: asyncpg.Pool, redis: Redis,
                settings: Settings, journeys: Journeys) -> None:  # fmt: skip
    """A panel button. Only admins: anyone else (a forged press) is refused, audited, and nothing happens."""
    language = language_of(query.from_user.language_code)
    action = callback_data.action
    if action == "dashboard":
        await query.answer()
        await show_dashboard(query, bot, pool, language)
    elif action == "refresh":
        await query.answer()
        await refresh_dashboard(query, bot, pool, language, chart_ids(callback_data.subject))
    elif action in ("users", "broadcast", "content"):
        await query.answer()
        params: dict[str, str | int] = {"limit": MAX_UPLOAD_BYTES // 1024} if action == "content" else {}
        await bot.send_message(query.from_user.id, t(f"admin.panel.{action}", language, **params))
    elif action == "auctions":
        await query.answer()
        await auction_admin.show_running(bot, query.from_user.id, pool, journeys.content.timezone, language)
    elif action == "publish":
        await query.answer()
        await bot.send_message(query.from_user.id, t("admin.publish.usage", language, limit=MAX_POST_LENGTH))
    elif action in ("activate", "cancel"):
        try:
            if action == "activate":
                await activate_upload(query, callback_data.subject, pool, redis, language, settings.media_dir)
            else:
                await cancel_upload(query, callback_data.subject, pool, redis, language)
        except RedisError:
            log.exception("pending content upload %s unreadable", callback_data.subject)
            await query.answer(t("admin.content.unavailable", language), show_alert=True)
    else:
        await query.answer(t("admin.panel.unknown", language), show_alert=True)


# Dashboard -----------------------------------------------------------------------------------------------


async def show_dashboard(query: CallbackQuery, bot: Bot, pool: asyncpg.Pool, language: str) -> None:
    """The dashboard as new messages: its charts as an album, then its figures as text with the refresh button (the
    last message, so the button sits under everything it redraws)."""
    figures = await dashboard(pool, datetime.now(UTC))
    ids = await send_charts(bot, query.from_user.id, await draw_charts(figures, language))
    await bot.send_message(query.from_user.id, render_dashboard(figures, language),
                           reply_markup=dashboard_keyboard(language, ids))  # fmt: skip


async def refresh_dashboard(query: CallbackQuery, bot: Bot, pool: asyncpg.Pool, language: str,
                            ids: list[int]) -> None:  # fmt: skip
    """Actualizar: the text and the album it names are redrawn in place, so the chat keeps one dashboard. Charts that
    cannot be edited (deleted, or a dashboard from before charts) come again as a new album."""
    if not isinstance(query.message, Message):
        await show_dashboard(query, bot, pool, language)
        return
    figures = await dashboard(pool, datetime.now(UTC))
    try:
        await query.message.edit_text(render_dashboard(figures, language),
                                      reply_markup=dashboard_keyboard(language, ids))  # fmt: skip
    except TelegramBadRequest as error:
        if "message is not modified" in error.message:
            return  # the same figures this minute: the charts are the same too
        await show_dashboard(query, bot, pool, language)
        return
    charts = await draw_charts(figures, language)
    if charts and not await edit_charts(bot, query.from_user.id, ids, charts):
        ids = await send_charts(bot, query.from_user.id, charts)
        try:
            await query.message.edit_reply_markup(reply_markup=dashboard_keyboard(language, ids))
        except TelegramBadRequest:
            log.warning("dashboard %s keeps its old refresh button", query.message.message_id)


def dashboard_keyboard(language: str, chart_ids: list[int]) -> InlineKeyboardMarkup:
    """The refresh button; it carries the ids of the charts' messages (a few numbers, well within 64 bytes)."""
    data = AdminCB(action="refresh", subject=".".join(str(message_id) for message_id in chart_ids))
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=t("admin.dashboard.refresh", language),
                                                                       callback_data=data.pack())]])  # fmt: skip


def chart_ids(subject: str) -> list[int]:
    """The charts' message ids a refresh button carries; none for anything else (an old button, a forged one)."""
    parts = subject.split(".") if subject else []
    return [int(part) for part in parts] if all(part.isdigit() for part in parts) else []


async def draw_charts(figures: Dashboard, language: str) -> list[Chart]:
    """The dashboard's pictures, drawn in a thread (CPU work the event loop must not wait on); none if drawing fails,
    so the figures still arrive as text."""
    try:
        return await asyncio.to_thread(dashboard_charts, figures, language)
    except Exception:
        log.exception("dashboard charts not drawn")
        return []


def _photo(chart: Chart) -> InputMediaPhoto:
    return InputMediaPhoto(media=BufferedInputFile(chart.png, filename=f"{chart.name}.png"), caption=chart.caption)


async def send_charts(bot: Bot, chat_id: int, charts: list[Chart]) -> list[int]:
    """The charts as one album; the ids of its messages (none if there is nothing to send or Telegram refused)."""
    if not charts:
        return []
    try:
        sent = await bot.send_media_group(chat_id, media=[_photo(chart) for chart in charts])
    except TelegramAPIError:
        log.exception("dashboard charts not sent to %s", chat_id)
        return []
    return [message.message_id for message in sent]


async def edit_charts(bot: Bot, chat_id: int, ids: list[int], charts: list[Chart]) -> bool:
    """Each chart replaces its picture in the album; False if the album is not there to edit as it was sent."""
    if len(ids) != len(charts):
        return False
    for message_id, chart in zip(ids, charts, strict=True):
        try:
            await bot.edit_message_media(media=_photo(chart), chat_id=chat_id, message_id=message_id)
        except TelegramBadRequest as error:
            if "message is not modified" not in error.message:
                log.info("dashboard chart %s in %s not edited: %s", message_id, chat_id, error.message)
                return False
    return True


def _percent(part: int | float, whole: int | float) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "—"


def render_dashboard(figures: Dashboard, language: str) -> str:
    """The dashboard as HTML: each line is one locale text, so names are escaped once."""
    zone = ZoneInfo(figures.timezone)
    lines = [
        t("admin.dashboard.title", language, generated=figures.generated_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
          timezone=figures.timezone, version=figures.content_version),
        "",
        t("admin.dashboard.users", language, total=figures.users_total, onboarded=figures.users_onboarded,
          new_today=figures.new_today, new_7_days=figures.new_7_days, active_today=figures.active_today,
          active_7_days=figures.active_7_days),
        "",
        t("admin.dashboard.funnel", language),
    ]  # fmt: skip
    start_reached = max((row.reached for row in figures.funnel), default=0)
    for row in figures.funnel[:MAX_FRAGMENTS]:
        lines.append(t("admin.dashboard.fragment", language, id=row.fragment_id,
                       title=row.title.get("en" if language == "en" else "es") if row.title else "—",
                       reached=row.reached, share=_percent(row.reached, start_reached), completed=row.completed,
                       here=row.here))  # fmt: skip
    if len(figures.funnel) > MAX_FRAGMENTS:
        lines.append(t("admin.panel.more", language, count=len(figures.funnel) - MAX_FRAGMENTS))
    lines += ["", t("admin.dashboard.missions", language, onboarded=figures.users_onboarded)]
    for mission in figures.missions[:MAX_FRAGMENTS]:
        lines.append(t("admin.dashboard.mission", language, code=mission.code,
                       title=mission.title.get("en" if language == "en" else "es") if mission.title else "—",
                       completed=mission.completed, rate=_percent(mission.rate, 1)))  # fmt: skip
    lines += [
        "",
        t("admin.dashboard.vip", language, payers=figures.payers, conversion=_percent(figures.vip_conversion, 1),
          active=figures.vip_active, grace=figures.vip_grace),
        "",
        t("admin.dashboard.stars", language, net=figures.stars_net, gross=figures.stars_gross,
          refunded=figures.stars_refunded, payments=figures.payments_total, net_30_days=figures.stars_net_30_days,
          payments_30_days=figures.payments_30_days),
        t("admin.dashboard.paid_media", language, purchases=figures.paid_media_purchases,
          stars=figures.paid_media_stars, stars_30_days=figures.paid_media_stars_30_days),
        "",
        *shop_figures.lines(figures.shop, language, zone),
    ]  # fmt: skip
    return "\n".join(lines)


# Content upload ------------------------------------------------------------------------------------------


@router.message(F.document, F.chat.type == ChatType.PRIVATE, FromAdmin())
async def upload(message: Message, bot: Bot, pool: asyncpg.Pool, redis: Redis, settings: Settings) -> None:
    """A content file from an admin: checked, shown as a diff against the active content, kept until confirmed."""
    assert message.from_user is not None and message.document is not None
    language = language_of(message.from_user.language_code)
    admin, document = message.from_user, message.document
    file_name = document.file_name or "content.yaml"
    if (document.file_size or 0) > MAX_UPLOAD_BYTES:
        await refuse_upload(message, pool, admin, file_name, [t("admin.content.too_big", language,
                            size=(document.file_size or 0) // 1024, limit=MAX_UPLOAD_BYTES // 1024)], language)  # fmt: skip
        return
    try:
        downloaded = await bot.download(document)
    except TelegramAPIError as error:
        await message.answer(t("admin.content.download_failed", language, error=error.message))
        return
    assert downloaded is not None
    raw = downloaded.read(MAX_UPLOAD_BYTES + 1)
    if len(raw) > MAX_UPLOAD_BYTES:
        await refuse_upload(message, pool, admin, file_name, [t("admin.content.too_big", language,
                            size=len(raw) // 1024, limit=MAX_UPLOAD_BYTES // 1024)], language)  # fmt: skip
        return
    try:
        text = raw.decode("utf-8")
        # The validator of `diana content check`, in a child process: the event loop and the bot stay free.
        checked = await check_content(text)
    except UnicodeDecodeError:
        await refuse_upload(message, pool, admin, file_name, [t("admin.content.not_utf8", language)], language)
        return
    except ContentRefused as refused:
        await refuse_upload(message, pool, admin, file_name, refused.problems, language)
        return
    # Its media must be here already: files shipped in content/media/, or registered by an admin (/media).
    missing = media_file_problems(checked.content, settings.media_dir) + await registered_media_problems(
        pool, checked.content
    )
    if missing:
        await refuse_upload(message, pool, admin, file_name, missing, language)
        return
    base_version = await active_version(pool)
    active = await pool.fetchrow("SELECT sha256, document FROM content_versions WHERE version = $1", base_version)
    if active is not None and active["sha256"] == checked.digest:
        await message.answer(t("admin.content.same", language, version=base_version))
        return
    summary = diff(Content.model_validate_json(active["document"]) if active else None, checked.content)
    preview = render_diff(summary, file_name, language)
    if summary.fragments.removed:
        # Activation refuses it (a journey may stand on a removed fragment): say so now, keep nothing.
        problem = t("admin.content.removes_fragments", language, ids=", ".join(summary.fragments.removed))
        await audit(pool, admin, "content upload refused", file_name, problem, {"problems": [problem]})
        await message.answer(f"{preview}\n\n{problem}")
        return
    pending = PendingUpload(admin_id=admin.id, file_name=file_name, text=text, digest=checked.digest,
                            base_version=base_version)  # fmt: skip
    upload_id = secrets.token_urlsafe(6)
    try:
        await redis.set(PENDING_KEY.format(upload_id), pending.model_dump_json(), ex=PENDING_TTL)
    except RedisError:
        log.exception("content upload from admin %s not kept", admin.id)
        await message.answer(t("admin.content.unavailable", language))
        return
    buttons = [[InlineKeyboardButton(text=t("admin.content.button.activate", language),
                                     callback_data=AdminCB(action="activate", subject=upload_id).pack()),
                InlineKeyboardButton(text=t("admin.content.button.cancel", language),
                                     callback_data=AdminCB(action="cancel", subject=upload_id).pack())]]  # fmt: skip
    await message.answer(f"{preview}\n\n{t('admin.content.confirm', language)}",
                         reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons))  # fmt: skip


async def refuse_upload(message: Message, pool: asyncpg.Pool, admin: User, file_name: str, problems: list[str],
                        language: str) -> None:  # fmt: skip
    """List what is wrong with the file, audit the refusal; nothing is stored."""
    await audit(pool, admin, "content upload refused", file_name, problems[0][:500], {"problems": problems[:50]})
    lines = [t("admin.content.refused", language, file=file_name, count=len(problems))]
    lines += [t("admin.content.problem", language, problem=problem[:300]) for problem in problems[:MAX_PROBLEMS]]
    if len(problems) > MAX_PROBLEMS:
        lines.append(t("admin.panel.more", language, count=len(problems) - MAX_PROBLEMS))
    await message.answer("\n".join(lines))


def render_diff(summary: ContentDiff, file_name: str, language: str) -> str:
    """What activating the file changes, section by section, as HTML."""
    lines = [t("admin.content.valid", language, file=file_name, old=summary.old_version or "—",
               new=summary.new_version)]  # fmt: skip
    if summary.empty:
        lines.append(t("admin.content.no_changes", language))
    sections: tuple[tuple[str, SectionDiff], ...] = (("fragments", summary.fragments), ("missions", summary.missions),
                                                     ("achievements", summary.achievements), ("plans", summary.plans))  # fmt: skip
    for name, section in sections:
        if section.empty:
            continue
        lines.append(t(f"admin.content.section.{name}", language, added=len(section.added),
                       removed=len(section.removed), changed=len(section.changed)))  # fmt: skip
        items = [f"+ {key}" for key in section.added] + [f"− {key}" for key in section.removed]
        items += [f"~ {item.id}: {', '.join(_change(change) for change in item.changes)}" for item in section.changed]
        lines += [t("admin.content.item", language, item=item) for item in items[:MAX_ITEMS]]
        if len(items) > MAX_ITEMS:
            lines.append(t("admin.panel.more", language, count=len(items) - MAX_ITEMS))
    if summary.settings:
        lines.append(t("admin.content.section.settings", language, changed=len(summary.settings)))
        lines += [t("admin.content.item", language, item=_change(change)) for change in summary.settings[:MAX_ITEMS]]
    return "\n".join(lines)


def _change(change: FieldChange) -> str:
    if change.kind != "changed":
        return f"{'+' if change.kind == 'added' else '−'}{change.field}"
    if change.old is None and change.new is None:
        return change.field
    return f"{change.field} {change.old or '—'} → {change.new or '—'}"


async def activate_upload(query: CallbackQuery, upload_id: str, pool: asyncpg.Pool, redis: Redis, language: str,
                          media_dir: Path) -> None:  # fmt: skip
    """Activar: the upload's own admin makes it the active content, once; a stale button changes nothing."""
    key = PENDING_KEY.format(upload_id)
    pending = await _own_upload(query, redis, key, language, pool, refusal="content activation refused")
    if pending is None:
        return
    # Taken atomically: of two presses (or two bot processes) only one gets to activate.
    if not await redis.delete(key):
        await query.answer(t("admin.content.stale", language), show_alert=True)
        return
    current = await active_version(pool)
    if current != pending.base_version:
        await query.answer()
        await _close_preview(query, t("admin.content.changed_since", language, version=current))
        return
    # Answered before the checks (seconds, in a child process): Telegram wants a button's answer promptly.
    await query.answer()
    try:
        checked = await check_content(pending.text)
        async with pool.acquire() as conn:
            version = await activate(conn, checked, media_dir)
    except ContentRefused as refused:
        await audit(pool, query.from_user, "content upload refused", pending.file_name, refused.problems[0][:500],
                    {"problems": refused.problems[:50]})  # fmt: skip
        await _close_preview(query, t("admin.content.activation_refused", language,
                                      problems="\n".join(refused.problems[:MAX_PROBLEMS])))  # fmt: skip
        return
    await audit(pool, query.from_user, "content activated", f"content:{version}", None,
                {"label": checked.content.version, "sha256": checked.digest, "previous_version": current,
                 "file": pending.file_name})  # fmt: skip
    await _close_preview(query, t("admin.content.activated", language, version=version, label=checked.content.version))


async def cancel_upload(query: CallbackQuery, upload_id: str, pool: asyncpg.Pool, redis: Redis,
                        language: str) -> None:  # fmt: skip
    """Cancelar: the upload is forgotten; nothing was activated."""
    key = PENDING_KEY.format(upload_id)
    pending = await _own_upload(query, redis, key, language, pool)
    if pending is None:
        return
    if await redis.delete(key):
        await audit(pool, query.from_user, "content upload cancelled", pending.file_name, None)
    await query.answer()
    await _close_preview(query, t("admin.content.cancelled", language))


async def _own_upload(query: CallbackQuery, redis: Redis, key: str, language: str, pool: asyncpg.Pool, *,
                      refusal: str | None = None) -> PendingUpload | None:  # fmt: skip
    """The upload a button names, while it still waits and only for the admin who sent it; otherwise the press is
    answered (and, with ``refusal``, another admin's press audited) and None returned."""
    pending = await _pending(redis, key)
    if pending is None:
        await query.answer(t("admin.content.stale", language), show_alert=True)
        return None
    if pending.admin_id != query.from_user.id:
        if refusal is not None:
            await audit(pool, query.from_user, refusal, pending.file_name, "another admin's upload")
        await query.answer(t("admin.content.foreign", language), show_alert=True)
        return None
    return pending


async def _pending(redis: Redis, key: str) -> PendingUpload | None:
    raw = await redis.get(key)
    if raw is None:
        return None
    try:
        return PendingUpload.model_validate_json(raw)
    except ValidationError:
        return None


async def _close_preview(query: CallbackQuery, outcome: str) -> None:
    """The preview loses its buttons (so it cannot be pressed again) and the outcome follows it."""
    if isinstance(query.message, Message):
        try:
            await query.message.edit_reply_markup(reply_markup=None)
        except TelegramBadRequest:
            pass  # already without buttons
        await query.message.answer(outcome)


async def audit(pool: asyncpg.Pool, admin: User, action: str, subject: str | None, reason: str | None,
                details: dict[str, object] | None = None) -> None:  # fmt: skip
    await write_audit(pool, f"admin:{admin.id}", action, subject, reason, details)
