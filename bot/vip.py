"""VIP through Telegram Stars: pre-checkout, successful payments, passes, the VIP channel, refunds and support.

Every decision is the journey's; this router only translates. The pre-checkout query is answered
within Telegram's 10 s from the journey's own validator; a successful payment is handed over until
the journey has it (the money has moved: it must not be dropped).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from datetime import timedelta
from typing import Final

import asyncpg
from aiogram import Bot, F
from aiogram.enums import ChatMemberStatus
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, CommandStart, Filter
from aiogram.types import ChatJoinRequest, ChatMemberUpdated, Message, PreCheckoutQuery, Update
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from adapters.content_store import active_vip
from adapters.journeys import JourneyRejected, Journeys
from adapters.texts import language_of, t
from adapters.vip_passes import create_vip_pass
from bot.admins import AdminOnly, guarded_router
from bot.replies import Refusal, answer_in_chat, ask, journey_request
from infra.settings import Settings
from workflows.contracts import JourneyReply, JourneyRequest, PaymentDetails, SupportRequest
from workflows.days import local_moment

router = guarded_router(__name__)
log = logging.getLogger("diana.bot")

PASS_LINK: Final = re.compile(r"^vip_([A-Za-z0-9_-]{8,64})$")
MEMBER: Final = frozenset({ChatMemberStatus.MEMBER, ChatMemberStatus.RESTRICTED})
# A successful payment is retried this many times (doubling from 0.5 s) before it is left to reconciliation.
PAYMENT_ATTEMPTS: Final = 6
UNAVAILABLE: Final = (RPCError, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError)


@router.message(CommandStart(deep_link=True, magic=F.args.regexp(PASS_LINK)))
async def redeem_pass(message: Message, command: CommandObject, event_update: Update, journeys: Journeys) -> None:
    """/start vip_<token>: meet Diana if new, then redeem the admin's VIP pass."""
    assert message.from_user is not None and command.args is not None
    language = message.from_user.language_code
    start = journey_request(event_update, message.from_user, "start", text=message.text or "")
    await answer_in_chat(message, await ask(journeys, start, language))
    match = PASS_LINK.match(command.args)
    assert match is not None
    # The same Telegram update asks twice: the redemption gets a delivery of its own.
    redeem = start.model_copy(update={"kind": "redeem", "action": match.group(1), "text": "",
                                      "fingerprint": f"{start.fingerprint}-redeem"})  # fmt: skip
    await answer_in_chat(message, await ask(journeys, redeem, language))


@router.pre_checkout_query()
async def pre_checkout(query: PreCheckoutQuery, event_update: Update, journeys: Journeys) -> None:
    """Telegram asks whether to take the Stars: the journey's validator decides (stale, foreign, gone, paid)."""
    language = language_of(query.from_user.language_code)
    payment = PaymentDetails(payload=query.invoice_payload[:128] or "-", currency=query.currency,
                             total_amount=query.total_amount)  # fmt: skip
    request = journey_request(event_update, query.from_user, "pre_checkout")
    try:
        await journeys.interact_if_started(request.model_copy(update={"payment": payment}))
    except JourneyRejected as rejected:
        await query.answer(ok=False, error_message=t(f"reject.{rejected.kind}", language))
        return
    except UNAVAILABLE:
        log.exception("journey %s did not answer a pre-checkout query", query.from_user.id)
        await query.answer(ok=False, error_message=t("reject.unavailable", language))
        return
    await query.answer(ok=True)


@router.message(F.successful_payment)
async def paid(message: Message, event_update: Update, journeys: Journeys) -> None:
    """The Stars were taken: hand the payment to the journey (once per charge id) and show VIP."""
    assert message.from_user is not None and message.successful_payment is not None
    receipt = message.successful_payment
    payment = PaymentDetails(payload=receipt.invoice_payload, currency=receipt.currency,
                             total_amount=receipt.total_amount, charge_id=receipt.telegram_payment_charge_id,
                             provider_charge_id=receipt.provider_payment_charge_id)  # fmt: skip
    request = journey_request(event_update, message.from_user, "payment").model_copy(update={"payment": payment})
    language = message.from_user.language_code
    for attempt in range(PAYMENT_ATTEMPTS):
        try:
            await answer_in_chat(message, await ask_once(journeys, request, language))
            return
        except UNAVAILABLE:
            log.warning("payment %s not handed over yet (attempt %d)", receipt.telegram_payment_charge_id, attempt + 1)
            await asyncio.sleep(0.5 * 2**attempt)
    # Recorded by Telegram, not by us: `diana payments reconcile` lists it for support.
    log.error("payment %s of user %s could not reach the journey", receipt.telegram_payment_charge_id,
              message.from_user.id)  # fmt: skip
    await message.answer(t("reject.unavailable", language_of(language)))


async def ask_once(journeys: Journeys, request: JourneyRequest, language_code: str | None) -> JourneyReply | Refusal:
    """Like ``ask``, but an unavailable journey raises (so the caller retries) instead of answering."""
    try:
        return await journeys.interact(request)
    except JourneyRejected as rejected:
        return Refusal(f"reject.{rejected.kind}", language_of(language_code))


class VipChannel(Filter):
    """Events of the configured VIP channel."""

    async def __call__(self, event: ChatJoinRequest | ChatMemberUpdated, settings: Settings) -> bool:
        return settings.vip_channel_id is not None and event.chat.id == settings.vip_channel_id


@router.message(F.refunded_payment)
async def refunded(message: Message) -> None:
    """Telegram's service message about a refund: the journey already told the user, in its own words."""


@router.chat_join_request(VipChannel())
async def join_request(event: ChatJoinRequest, event_update: Update, journeys: Journeys) -> None:
    """Someone asks to join the VIP channel: approved for paying users, declined for everyone else."""
    if await _is_vip(journeys, journey_request(event_update, event.from_user, "vip_join", action=str(event.chat.id))):
        await event.approve()
    else:
        await event.decline()


@router.chat_member(VipChannel())
async def vip_channel_member(event: ChatMemberUpdated, event_update: Update, journeys: Journeys, bot: Bot) -> None:
    """A join to the VIP channel by someone who is not VIP (a forwarded link) is undone at once."""
    user = event.new_chat_member.user
    if event.new_chat_member.status not in MEMBER or event.old_chat_member.status in MEMBER or user.is_bot:
        return
    if await _is_vip(journeys, journey_request(event_update, user, "vip_join", action=str(event.chat.id))):
        return
    try:
        await bot.ban_chat_member(event.chat.id, user.id)
        await bot.unban_chat_member(event.chat.id, user.id, only_if_banned=True)
    except TelegramAPIError:
        log.exception("could not take user %s out of the VIP channel", user.id)


async def _is_vip(journeys: Journeys, request: JourneyRequest) -> bool:
    try:
        reply = await journeys.interact_if_started(request)
    except JourneyRejected:
        return False
    except UNAVAILABLE:
        log.exception("journey %s did not answer about the VIP channel", request.user_id)
        return False  # declined now; the user may ask again
    return reply.toast is not None and reply.toast.key == "vip.join.approved"


@router.message(Command("paysupport"))
async def pay_support(message: Message) -> None:
    """/paysupport: required of every bot that takes Stars; tells users how refunds work."""
    await message.answer(t("paysupport", language_of(message.from_user.language_code if message.from_user else None)))


@router.message(Command("reembolsar", "refund"), flags={"admin": AdminOnly("refund")})
async def refund(message: Message, command: CommandObject, event_update: Update, journeys: Journeys) -> None:
    """/reembolsar <user id> <charge id> <reason>: an admin gives a payment back; VIP ends."""
    assert message.from_user is not None
    language = language_of(message.from_user.language_code)
    parts = (command.args or "").split(maxsplit=2)
    if len(parts) < 3 or not parts[0].isdigit() or len(parts[2].strip()) < 3:
        await message.answer(t("admin.refund.usage", language))
        return
    request = SupportRequest(request_id=f"telegram-{event_update.update_id}", user_id=int(parts[0]),
                             actor=f"admin:{message.from_user.id}", action="refund", charge_id=parts[1][:128],
                             reason=parts[2].strip()[:500])  # fmt: skip
    try:
        reply = await journeys.support(request)
    except JourneyRejected as rejected:
        await message.answer(t("admin.refund.refused", language, reason=rejected.message or rejected.kind))
        return
    except UNAVAILABLE:
        log.exception("refund for user %s not applied", request.user_id)
        await message.answer(t("reject.unavailable", language))
        return
    await message.answer(t("admin.refund.done", language, message=reply.message))


@router.message(Command("pase", "vippass"), flags={"admin": AdminOnly("vip pass")})
async def vip_pass(message: Message, command: CommandObject, bot: Bot, pool: asyncpg.Pool, journeys: Journeys) -> None:
    """/pase <plan>: an admin makes a single-use, expiring VIP pass and gets its deep link."""
    assert message.from_user is not None
    language = language_of(message.from_user.language_code)
    vip = await active_vip(pool)
    code = (command.args or "").strip()
    if vip is None or code not in vip.plans_by_code:
        plans = ", ".join(plan.code for plan in vip.plans) if vip else "—"
        await message.answer(t("admin.pass.usage", language, plans=plans))
        return
    token = secrets.token_urlsafe(12)
    expires = await create_vip_pass(pool, token, code, message.from_user.id, timedelta(days=vip.pass_valid_days))
    me = await bot.me()
    link = f"https://t.me/{me.username}?start=vip_{token}"
    await message.answer(t("admin.pass.done", language, plan=vip.plans_by_code[code].name.get(language),
                           expires=local_moment(expires, journeys.content.timezone), link=link))  # fmt: skip
