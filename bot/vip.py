"""VIP through Telegram Stars: pre-checkout, successful payments, passes, the VIP channel, refunds and support.

Every decision is the journey's; this router only translates. The pre-checkout query is answered within
Telegram's 10 s from the journey's own validator (refused when the journey cannot answer in time); a successful
payment is kept before anything else and driven into the journey until it has it (``bot.payments``: the money
has moved, it must not be dropped). A refund is reported done only once Telegram confirmed it.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Final

import asyncpg
from aiogram import Bot, F
from aiogram.enums import ChatMemberStatus
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, CommandStart, Filter
from aiogram.types import ChatJoinRequest, ChatMemberUpdated, Message, PreCheckoutQuery, SuccessfulPayment, Update

from adapters import received_payments, staff
from adapters.content_store import active_vip
from adapters.journeys import JourneyRejected, Journeys, JourneyUnavailable
from adapters.screens import ScreenSender
from adapters.stars import TelegramStars
from adapters.texts import language_of, t
from adapters.vip_passes import create_vip_pass
from bot.admins import AdminOnly, guarded_router
from bot.dead_letters import keep_for_support
from bot.payments import take_payment
from bot.replies import answer_in_chat, ask, journey_request
from infra.settings import Settings
from workflows.contracts import JourneyRequest, PaymentDetails
from workflows.days import local_moment

router = guarded_router(__name__)
log = logging.getLogger("diana.bot")

PASS_LINK: Final = re.compile(r"^vip_([A-Za-z0-9_-]{8,64})$")
MEMBER: Final = frozenset({ChatMemberStatus.MEMBER, ChatMemberStatus.RESTRICTED})
# Telegram waits 10 s for the answer to a pre-checkout query: the journey gets this long, the answer the rest.
PRE_CHECKOUT_DEADLINE: Final = 7.0


@router.message(CommandStart(deep_link=True, magic=F.args.regexp(PASS_LINK)))
async def redeem_pass(
    message: Message, command: CommandObject, event_update: Update, journeys: Journeys, screens: ScreenSender
) -> None:
    """/start vip_<token>: meet Diana if new, then redeem the admin's VIP pass."""
    assert message.from_user is not None and command.args is not None
    language = message.from_user.language_code
    start = journey_request(event_update, message.from_user, "start")
    await answer_in_chat(message, await ask(journeys, start, language), screens)
    match = PASS_LINK.match(command.args)
    assert match is not None
    # The same Telegram update asks twice: the redemption gets a delivery of its own.
    redeem = start.model_copy(update={"kind": "redeem", "action": match.group(1),
                                      "fingerprint": f"{start.fingerprint}-redeem"})  # fmt: skip
    await answer_in_chat(message, await ask(journeys, redeem, language), screens)


@router.pre_checkout_query()
async def pre_checkout(
    query: PreCheckoutQuery, event_update: Update, journeys: Journeys, screens: ScreenSender
) -> None:
    """Telegram asks whether to take the Stars: the journey's validator decides (stale, foreign, gone, paid)."""
    language = language_of(query.from_user.language_code)
    payment = PaymentDetails(payload=query.invoice_payload[:128] or "-", currency=query.currency,
                             total_amount=query.total_amount)  # fmt: skip
    request = journey_request(event_update, query.from_user, "pre_checkout")
    try:
        await journeys.interact_if_started(request.model_copy(update={"payment": payment}),
                                           deadline=PRE_CHECKOUT_DEADLINE)  # fmt: skip
    except JourneyRejected as rejected:
        await query.answer(ok=False, error_message=t(f"reject.{rejected.kind}", language))
        return
    except JourneyUnavailable as unavailable:
        log.warning("pre-checkout of user %s refused: %s", query.from_user.id, unavailable.reason)
        await query.answer(ok=False, error_message=t("reject.unavailable", language))
        return
    await query.answer(ok=True)


@router.message(F.successful_payment)
async def paid(
    message: Message, event_update: Update, journeys: Journeys, pool: asyncpg.Pool, screens: ScreenSender
) -> None:
    """The Stars were taken: keep the payment, hand it to the journey (once per charge id) and show VIP."""
    assert message.from_user is not None and message.successful_payment is not None
    payment = payment_details(message.successful_payment)
    request = journey_request(event_update, message.from_user, "payment").model_copy(update={"payment": payment})
    outcome = await take_payment(journeys, pool, request)
    if isinstance(outcome, str):
        await message.answer(t(outcome, language_of(message.from_user.language_code)))
        return
    await answer_in_chat(message, outcome, screens)


def payment_details(receipt: SuccessfulPayment) -> PaymentDetails:
    """A successful payment as the journey takes it; a Stars subscription's charge says so, and until when."""
    until = receipt.subscription_expiration_date
    return PaymentDetails(payload=receipt.invoice_payload, currency=receipt.currency,
                          total_amount=receipt.total_amount, charge_id=receipt.telegram_payment_charge_id,
                          provider_charge_id=receipt.provider_payment_charge_id,
                          is_recurring=bool(receipt.is_recurring), is_first_recurring=bool(receipt.is_first_recurring),
                          subscription_expiration_date=None if until is None else datetime.fromtimestamp(until, UTC))  # fmt: skip


class VipChannel(Filter):
    """Events of the configured VIP channel."""

    async def __call__(self, event: ChatJoinRequest | ChatMemberUpdated, settings: Settings) -> bool:
        return settings.vip_channel_id is not None and event.chat.id == settings.vip_channel_id


@router.message(F.refunded_payment)
async def refunded(message: Message, event_update: Update, journeys: Journeys, pool: asyncpg.Pool) -> None:
    """Telegram's service message about a refund (one made here, or outside the bot): VIP of that charge ends, once.
    The journey tells the user in its own words; one it already knew of changes nothing."""
    assert message.from_user is not None and message.refunded_payment is not None
    receipt = message.refunded_payment
    payment = PaymentDetails(payload=receipt.invoice_payload or "-", currency=receipt.currency,
                             total_amount=receipt.total_amount, charge_id=receipt.telegram_payment_charge_id)  # fmt: skip
    request = journey_request(event_update, message.from_user, "refunded").model_copy(update={"payment": payment})
    await received_payments.refunded(pool, receipt.telegram_payment_charge_id)  # if the journey never had it
    try:
        await journeys.interact_if_started(request)
    except JourneyRejected as rejected:
        log.info("refund of %s not for a journey (%s)", receipt.telegram_payment_charge_id, rejected.kind)
    except JourneyUnavailable as unavailable:
        keep_for_support(unavailable.reason)


@router.chat_join_request(VipChannel())
async def join_request(event: ChatJoinRequest, event_update: Update, journeys: Journeys, screens: ScreenSender) -> None:
    """Someone asks to join the VIP channel: approved for paying users, declined for everyone else."""
    vip = await _is_vip(journeys, journey_request(event_update, event.from_user, "vip_join", action=str(event.chat.id)))
    if vip:
        await event.approve()
    elif vip is False:  # unknown now: the request waits, and the user may ask again
        await event.decline()


@router.chat_member(VipChannel())
async def vip_channel_member(event: ChatMemberUpdated, event_update: Update, journeys: Journeys, bot: Bot) -> None:
    """A join to the VIP channel by someone who is not VIP (a forwarded link) is undone at once."""
    user = event.new_chat_member.user
    if event.new_chat_member.status not in MEMBER or event.old_chat_member.status in MEMBER or user.is_bot:
        return
    if await _is_vip(journeys, journey_request(event_update, user, "vip_join", action=str(event.chat.id))) is not False:
        return  # VIP, or not known now (a VIP whose journey cannot be read is never taken out)
    try:
        await bot.ban_chat_member(event.chat.id, user.id)
        await bot.unban_chat_member(event.chat.id, user.id, only_if_banned=True)
    except TelegramAPIError:
        log.exception("could not take user %s out of the VIP channel", user.id)


async def _is_vip(journeys: Journeys, request: JourneyRequest) -> bool | None:
    try:
        reply = await journeys.interact_if_started(request)
    except JourneyRejected:
        return False
    except JourneyUnavailable as unavailable:
        log.warning("journey %s did not answer about the VIP channel: %s", request.user_id, unavailable.reason)
        return None  # not known now: neither let in nor taken out
    return reply.toast is not None and reply.toast.key == "vip.join.approved"


@router.message(Command("paysupport"))
async def pay_support(message: Message) -> None:
    """/paysupport: required of every bot that takes Stars; tells users how refunds work."""
    await message.answer(t("paysupport", language_of(message.from_user.language_code if message.from_user else None)))


@router.message(Command("reembolsar", "refund"), flags={"admin": AdminOnly("refund")})
async def refund(message: Message, command: CommandObject, event_update: Update, journeys: Journeys, bot: Bot,
                 pool: asyncpg.Pool) -> None:  # fmt: skip
    """/reembolsar <user id> <charge id> <reason>: an admin gives a payment back, reported done once Telegram
    confirmed it; VIP ends. A payment the journey never applied is given back too."""
    assert message.from_user is not None
    language = language_of(message.from_user.language_code)
    parts = (command.args or "").split(maxsplit=2)
    if len(parts) < 3 or not parts[0].isdigit() or len(parts[2].strip()) < 3:
        await message.answer(t("admin.refund.usage", language))
        return
    try:
        done = await staff.refund(journeys.client, pool, TelegramStars(bot), int(parts[0]), parts[1][:128],
                                  actor=f"admin:{message.from_user.id}", reason=parts[2].strip()[:500],
                                  request_id=f"telegram-{event_update.update_id}")  # fmt: skip
    except staff.TelegramRefusedRefund as refused:
        await message.answer(t("admin.refund.telegram_refused", language, reason=refused.reason))
        return
    except staff.SupportError as error:
        await message.answer(t("admin.refund.refused", language, reason=str(error)))
        return
    if done is None:
        await message.answer(t("admin.refund.received_only", language))
        return
    await message.answer(t("admin.refund.done", language, message=done))


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
