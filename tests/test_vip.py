"""VIP on real servers, at real lengths: 30-day plans and day-before reminders on a time-skipping Temporal.

The journey is driven the way the bot drives it (pre-checkout, then the successful payment);
Telegram is the emulator, Postgres and Redis are real. After every step Postgres
``subscriptions`` and ``payments`` must agree with the workflow.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiogram import Bot
from redis.asyncio import Redis
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters import received_payments, staff
from adapters.content_version import ActiveContent
from adapters.journeys import JourneyRejected, Journeys
from adapters.stars import TelegramStars, reconcile
from adapters.vip_passes import create_vip_pass
from bot.payments import take_payment
from infra.settings import EMULATOR_VIP_CHANNEL
from tests import hermetic
from tests.helpers import eventually, new_user_id, request
from tests.telegram import control, payments
from tools import support_cli
from tools.cli import _reconcile
from tools.emulator import BotAPIEmulator
from worker import journey_worker_options
from workflows.contracts import (
    JourneyError,
    JourneyInput,
    JourneyReply,
    JourneyState,
    PaymentDetails,
    SupportRequest,
)
from workflows.journey import JourneyWorkflow, journey_id

QUEUE = "vip"
MONTH = timedelta(days=30)
_charges = itertools.count(1)


class Journey:
    """One user's journey, driven like the bot drives it."""

    def __init__(self, env: WorkflowEnvironment, journeys: Journeys, emulator: BotAPIEmulator, user_id: int) -> None:
        self.env, self.journeys, self.emulator, self.user_id = env, journeys, emulator, user_id
        self.handle: WorkflowHandle[Any, Any] = env.client.get_workflow_handle(journey_id(user_id))
        self.reply: JourneyReply | None = None

    async def begin(self) -> None:
        await self.emulator.user_sends_text(self.user_id, "hola", first_name="Vera")  # the private chat exists
        with self.env.with_time_skipping_disabled():
            await self.env.client.start_workflow(JourneyWorkflow.run, JourneyInput(user_id=self.user_id),
                                                 id=journey_id(self.user_id), task_queue=QUEUE)  # fmt: skip
        self.reply = await self.journeys.interact(request(self.user_id, "start", first_name="Vera"))
        for _ in range(3):
            await self.press("onboarding_next")

    async def press(self, action: str) -> JourneyReply:
        assert self.reply is not None
        self.reply = await self.journeys.interact(request(self.user_id, "button", action=action,
                                                          screen=self.reply.screen.seq, first_name="Vera"))  # fmt: skip
        return self.reply

    async def state(self) -> JourneyState:
        state: JourneyState = await self.handle.query(JourneyWorkflow.current_state)
        return state

    async def now(self) -> datetime:
        return await self.env.get_current_time(self.handle)

    async def buy(self, plan: str = "mensual") -> str:
        """Open VIP, press the plan: the invoice reaches the chat; returns its payload."""

        invoices = self.invoices
        before = len(invoices())
        await self.press("vip")
        await self.press(f"buy.{plan}")

        async def invoice() -> dict[str, Any] | None:
            sent = invoices()
            return sent[-1] if len(sent) > before else None

        entry = await eventually(invoice)
        assert entry is not None
        payload: str = entry["payload"]
        return payload

    def invoices(self) -> list[dict[str, Any]]:
        """Invoices, and the messages whose button opens a subscription's invoice link (its payload added)."""
        sent = []
        for entry in self.emulator.chats[self.user_id].transcript:
            links = [b["url"] for row in entry.get("buttons") or [] for b in row
                     if str(b.get("url") or "").startswith("https://t.me/$")]  # fmt: skip
            if entry["kind"] == "bot_invoice":
                sent.append(entry)
            elif entry["kind"] == "bot_message" and links:
                terms = self.emulator.payments.invoice_links[links[0]]
                sent.append({**entry, "payload": terms.payload, "invoice_link": links[0]})
        return sent

    async def pre_checkout(self, payload: str, amount: int = 250) -> None:
        asked = request(self.user_id, "pre_checkout", first_name="Vera").model_copy(
            update={"payment": PaymentDetails(payload=payload, currency="XTR", total_amount=amount)})  # fmt: skip
        await self.journeys.interact_if_started(asked)

    async def pay(self, payload: str, amount: int = 250, *, charge: str | None = None,
                  update_id: int | None = None) -> JourneyReply:  # fmt: skip
        """The successful payment (after a pre-checkout the journey accepted)."""
        charge = charge or f"stx-{next(_charges)}"
        paid = request(self.user_id, "payment", first_name="Vera", update_id=update_id).model_copy(
            update={"payment": PaymentDetails(payload=payload, currency="XTR", total_amount=amount, charge_id=charge,
                                              provider_charge_id="")})  # fmt: skip
        self.reply = await self.journeys.interact(paid)
        return self.reply

    def messages(self, containing: str) -> list[dict[str, Any]]:
        return [e for e in self.emulator.chats[self.user_id].transcript
                if e["kind"] == "bot_message" and containing in str(e["text"])]  # fmt: skip


@pytest.fixture
async def vip_world(skipping_env: WorkflowEnvironment, pool: asyncpg.Pool, redis: Redis, telegram_bot: Bot,
                    emulator: BotAPIEmulator, active_content: ActiveContent,
                    http: aiohttp.ClientSession) -> AsyncIterator[Journeys]:  # fmt: skip
    options = journey_worker_options(pool, redis, telegram_bot, vip_channel_id=EMULATOR_VIP_CHANNEL)
    async with Worker(skipping_env.client, task_queue=QUEUE, **options):
        yield Journeys(skipping_env.client, QUEUE, active_content)


async def agrees_with_postgres(journey: Journey, pool: asyncpg.Pool) -> JourneyState:
    """Wait until the projection has caught up, then check subscriptions and payments match the workflow."""

    async def settled() -> JourneyState | None:
        state = await journey.state()
        return state if not state.pending_effects else None

    state = await eventually(settled, within=30)
    assert state is not None
    sub = state.subscription
    row = await pool.fetchrow("SELECT * FROM subscriptions WHERE telegram_user_id = $1", journey.user_id)
    if sub.status == "none":
        assert row is None
    else:
        assert row is not None
        assert (row["status"], row["plan"], row["expires_at"], row["started_at"]) == (
            sub.status, sub.plan, sub.expires_at, sub.started_at)  # fmt: skip
    paid = await pool.fetch("SELECT * FROM payments WHERE telegram_user_id = $1 ORDER BY paid_at", journey.user_id)
    stars = [c for c in sub.charges if not c.charge_id.startswith("pass:")]
    assert [(p["charge_id"], p["amount"], p["refunded_at"]) for p in paid] == [
        (c.charge_id, c.stars, c.refunded_at) for c in stars]  # fmt: skip
    return state


async def test_buy_remind_renew_and_expire_out_of_the_channel(
    vip_world: Journeys, skipping_env: WorkflowEnvironment, emulator: BotAPIEmulator, pool: asyncpg.Pool,
    http: aiohttp.ClientSession, telegram_bot: Bot,
) -> None:  # fmt: skip
    journey = Journey(skipping_env, vip_world, emulator, new_user_id())
    await journey.begin()
    payload = await journey.buy()
    await journey.pre_checkout(payload)
    welcome = await journey.pay(payload)
    assert welcome.screen.key == "vip.welcome"
    bought_at = await journey.now()
    state = await agrees_with_postgres(journey, pool)
    assert state.vip and state.subscription.status == "active"
    expires = state.subscription.expires_at
    assert expires is not None and timedelta(0) <= bought_at + MONTH - expires < timedelta(minutes=1)
    assert {"vip_experience"} <= set(state.missions) and "vip_access" in state.achievements

    # The single-use invite link arrives; through it the user joins the private channel.
    invite = (await eventually(lambda: _async(journey.messages("canal privado"))))[0]
    link = invite["buttons"][0][0]["url"]
    joined = await control(http, "POST", f"{emulator.base_url}/control/users/{journey.user_id}/join",
                           {"chat_id": EMULATOR_VIP_CHANNEL, "invite_link": link})  # fmt: skip
    assert joined["status"] == "member"
    member = await telegram_bot.get_chat_member(EMULATOR_VIP_CHANNEL, journey.user_id)
    assert member.status == "member"

    # Three days before the end: the reminder, at its real time.
    await skipping_env.fast_forward(journey.handle, expires - timedelta(days=3) - await journey.now()
                                    + timedelta(minutes=1))  # fmt: skip
    reminders = await eventually(lambda: _async(journey.messages("tu VIP termina en")), within=30)
    assert len(reminders) == 1 and "3</b> día(s)" not in reminders[0]["text"] and "3 día(s)" in reminders[0]["text"]

    # Renewing two days before the end extends from the current expiry, not from today.
    await skipping_env.fast_forward(journey.handle, timedelta(days=1))
    payload = await journey.buy()
    await journey.pre_checkout(payload)
    renewed = await journey.pay(payload)
    assert renewed.screen.key == "vip.renewed"
    state = await agrees_with_postgres(journey, pool)
    assert state.subscription.expires_at == expires + MONTH
    assert len(journey.messages("canal privado")) == 1, "still in the channel: no new invite"

    # Past the new expiry and the grace period: perks end, and the user is out of the channel.
    end = expires + MONTH + timedelta(days=3)
    await skipping_env.fast_forward(journey.handle, end - await journey.now() + timedelta(minutes=1))
    await eventually(lambda: _async(journey.messages("tu VIP terminó")), within=30)
    state = await agrees_with_postgres(journey, pool)
    assert state.subscription.status == "expired" and not state.vip
    assert len(journey.messages("tu VIP venció")) == 1, "told once about the grace period"
    member = await telegram_bot.get_chat_member(EMULATOR_VIP_CHANNEL, journey.user_id)
    assert member.status == "left", "banned then unbanned: out now, free to come back after paying"
    assert (await journey.press("vip")).screen.key == "vip.menu.expired"


async def test_a_payment_delivered_twice_counts_once(
    vip_world: Journeys, skipping_env: WorkflowEnvironment, emulator: BotAPIEmulator, pool: asyncpg.Pool,
) -> None:  # fmt: skip
    journey = Journey(skipping_env, vip_world, emulator, new_user_id())
    await journey.begin()
    payload = await journey.buy()
    await journey.pre_checkout(payload)
    first = await journey.pay(payload, charge="stx-twice", update_id=880_001)
    again = await journey.pay(payload, charge="stx-twice", update_id=880_001)  # the same update, redelivered
    other = await journey.pay(payload, charge="stx-twice", update_id=880_002)  # the same charge, another update
    # Temporal answers the redelivered update with its first reply; the other update finds the charge applied.
    assert again == first and first.screen.key == "vip.welcome" and other.screen.key == "vip.menu.active"
    state = await agrees_with_postgres(journey, pool)
    assert len(state.subscription.charges) == 1
    assert state.subscription.expires_at is not None and state.subscription.started_at is not None
    assert state.subscription.expires_at - state.subscription.started_at == MONTH, "one extension"
    assert len(journey.messages("canal privado")) == 1


async def test_stale_and_foreign_pre_checkouts_are_refused(
    vip_world: Journeys, skipping_env: WorkflowEnvironment, emulator: BotAPIEmulator, pool: asyncpg.Pool,
) -> None:  # fmt: skip
    journey = Journey(skipping_env, vip_world, emulator, new_user_id())
    await journey.begin()
    payload = await journey.buy()
    cases = {
        JourneyError.INVOICE_FOREIGN: payload.replace(str(journey.user_id), "123456"),
        JourneyError.INVOICE_STALE: payload.rsplit(":", 1)[0] + ":1",
    }
    for kind, forged in cases.items():
        with pytest.raises(JourneyRejected) as refused:
            await journey.pre_checkout(forged)
        assert refused.value.kind == kind
    with pytest.raises(JourneyRejected) as refused:
        await journey.pre_checkout(payload, amount=1)
    assert refused.value.kind == JourneyError.INVALID_INPUT
    await journey.pre_checkout(payload)  # the real one is accepted
    await journey.pay(payload)
    with pytest.raises(JourneyRejected) as refused:
        await journey.pre_checkout(payload)
    assert refused.value.kind == JourneyError.ALREADY_PAID
    state = await agrees_with_postgres(journey, pool)
    assert len(state.subscription.charges) == 1


async def test_a_refund_ends_vip_once(
    vip_world: Journeys, skipping_env: WorkflowEnvironment, emulator: BotAPIEmulator, pool: asyncpg.Pool,
    http: aiohttp.ClientSession, telegram_bot: Bot,
) -> None:  # fmt: skip
    journey = Journey(skipping_env, vip_world, emulator, new_user_id())
    await journey.begin()
    # Paid for real through the emulator, so Telegram knows the charge and can give it back.
    payload, charge = await _paid_in_telegram(journey, http, emulator, telegram_bot)
    await journey.pay(payload, charge=charge)
    await agrees_with_postgres(journey, pool)
    refund = SupportRequest(request_id="refund-1", user_id=journey.user_id, actor="admin:1", action="refund",
                            charge_id=charge, reason="bought by mistake")  # fmt: skip
    reply = await vip_world.support(refund)
    assert reply.ok and "VIP ended" in reply.message
    assert await vip_world.support(refund) == reply, "the same request again: applied once, same answer"
    with pytest.raises(JourneyRejected) as refused:
        await vip_world.support(refund.model_copy(update={"request_id": "refund-2"}))
    assert refused.value.kind == JourneyError.SUPPORT_REFUSED
    state = await agrees_with_postgres(journey, pool)
    assert state.subscription.status == "refunded" and not state.vip
    charges = [c for c in await payments(http, emulator.base_url) if c["telegram_payment_charge_id"] == charge]
    assert charges and charges[0]["refunded"]
    audited = await pool.fetch("SELECT * FROM audit_log WHERE action = 'refund' AND subject = $1",
                               f"user:{journey.user_id}")  # fmt: skip
    assert len(audited) == 1 and audited[0]["actor"] == "admin:1"
    await eventually(lambda: _async(journey.messages("fue reembolsado")), within=30)
    assert await reconcile(pool, TelegramStars(telegram_bot)) == []


async def test_a_vip_pass_is_redeemed_once(
    vip_world: Journeys, skipping_env: WorkflowEnvironment, emulator: BotAPIEmulator, pool: asyncpg.Pool,
) -> None:  # fmt: skip
    await create_vip_pass(pool, "pass_token_0001", "trimestral", 4_000_001, timedelta(days=7))
    first = Journey(skipping_env, vip_world, emulator, new_user_id())
    second = Journey(skipping_env, vip_world, emulator, new_user_id())
    for journey in (first, second):
        await journey.begin()
    redeem = request(first.user_id, "redeem", action="pass_token_0001", first_name="Vera")
    granted = await vip_world.interact(redeem)
    assert granted.screen.key == "vip.welcome"
    refused = await vip_world.interact(request(second.user_id, "redeem", action="pass_token_0001",
                                               first_name="Vera"))  # fmt: skip
    assert refused.screen.key == "vip.pass.used"
    again = await vip_world.interact(request(first.user_id, "redeem", action="pass_token_0001", first_name="Vera"))
    assert again.screen.key == "vip.pass.yours_already"
    state = await agrees_with_postgres(first, pool)
    assert state.vip and state.subscription.plan == "trimestral"
    assert not (await agrees_with_postgres(second, pool)).vip
    row = await pool.fetchrow("SELECT redeemed_by FROM vip_passes WHERE token = 'pass_token_0001'")
    assert row is not None and row["redeemed_by"] == first.user_id
    unknown = await vip_world.interact(request(second.user_id, "redeem", action="no_such_pass", first_name="Vera"))
    assert unknown.screen.key == "vip.pass.unknown"


async def _paid_in_telegram(journey: Journey, http: aiohttp.ClientSession, emulator: BotAPIEmulator,
                            bot: Bot) -> tuple[str, str]:  # fmt: skip
    """Buy the monthly plan, accept its pre-checkout and pay it in the emulator: Telegram holds the charge, the journey
    has not heard of the payment yet. The invoice's payload and the charge id."""
    payload = await journey.buy()
    invoice = journey.invoices()[-1]
    await journey.pre_checkout(payload)
    return payload, await _emulator_charge(http, emulator, bot, journey.user_id, invoice)


async def _emulator_charge(http: aiohttp.ClientSession, emulator: BotAPIEmulator, bot: Bot, user_id: int,
                           invoice: dict[str, Any]) -> str:  # fmt: skip
    """Pay the invoice message (or a subscription's invoice link) in the emulator, answering its pre-checkout ourselves; the charge id."""

    async def answer() -> None:
        # No bot process in this test (the journey already accepted the pre-checkout): say yes for it.
        while True:
            pending = [u for u in emulator.updates if "pre_checkout_query" in u]
            if pending:
                await bot.answer_pre_checkout_query(pending[-1]["pre_checkout_query"]["id"], ok=True)
                return
            await asyncio.sleep(0.05)

    answering = asyncio.create_task(answer())
    which = {"invoice_link": invoice["invoice_link"]} if "invoice_link" in invoice else {
        "message_id": invoice["message_id"]}  # fmt: skip
    paid = await control(http, "POST", f"{emulator.base_url}/control/users/{user_id}/pay", which)
    await answering
    assert paid["ok"], paid
    charge: str = paid["telegram_payment_charge_id"]
    return charge


async def _async(value: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return value


async def test_reconciliation_names_every_difference_with_telegram(
    vip_world: Journeys, skipping_env: WorkflowEnvironment, emulator: BotAPIEmulator, pool: asyncpg.Pool,
    http: aiohttp.ClientSession, telegram_bot: Bot, database: str, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    journey = Journey(skipping_env, vip_world, emulator, new_user_id())
    await journey.begin()
    # Telegram took the Stars, but the payment never reached the journey (the bot was down).
    payload, charge = await _paid_in_telegram(journey, http, emulator, telegram_bot)
    settings = hermetic.settings(DATABASE_URL=database, TELEGRAM_API_BASE=emulator.base_url)
    assert await _reconcile(settings) == 1
    assert f"{charge}: paid at the provider, not recorded" in capsys.readouterr().out
    await journey.pay(payload, charge=charge)  # handed over late: the journey records it
    await agrees_with_postgres(journey, pool)
    assert await _reconcile(settings) == 0
    assert "1 recorded payment(s); 0 difference(s)" in capsys.readouterr().out


async def test_a_payment_for_an_erased_journey_is_kept_listed_and_refunded(
    vip_world: Journeys, skipping_env: WorkflowEnvironment, emulator: BotAPIEmulator, pool: asyncpg.Pool,
    http: aiohttp.ClientSession, telegram_bot: Bot, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The user erased their data between the pre-checkout and the payment: the journey refuses it, the payment is
    kept and flagged for support, listed by `diana-support payments`, and refunded through Telegram."""
    journey = Journey(skipping_env, vip_world, emulator, new_user_id())
    await journey.begin()
    payload = await journey.buy()
    await journey.pre_checkout(payload)
    await journey.press("settings")
    await journey.press("erase")
    await journey.press("erase_confirm")
    await eventually(lambda: _ended(journey), within=30)
    invoice = journey.invoices()[-1]
    charge = await _emulator_charge(http, emulator, telegram_bot, journey.user_id, invoice)
    paid = request(journey.user_id, "payment", first_name="Vera").model_copy(
        update={"payment": PaymentDetails(payload=payload, currency="XTR", total_amount=250, charge_id=charge)})  # fmt: skip
    assert await take_payment(vip_world, pool, paid) == "vip.payment.held"
    [row] = await received_payments.open_payments(pool)
    assert (row["charge_id"], row["needs_support"]) == (charge, True)
    assert "JourneyErased" in row["problem"] or "JourneyNotStarted" in row["problem"], "ended, or deleted already"

    assert await support_cli._kept(support_cli.parser().parse_args(["payments"]), hermetic.settings(), None, pool) == 0
    assert f"{charge}\tuser {journey.user_id}\t250 XTR" in capsys.readouterr().out
    refunded = await staff.refund(vip_world.client, pool, TelegramStars(telegram_bot), journey.user_id, charge,
                                  actor="support:test", reason="paid after erasing")  # fmt: skip
    assert refunded is None, "given back where it was received: the journey never had it"
    charges = [c for c in await payments(http, emulator.base_url) if c["telegram_payment_charge_id"] == charge]
    assert charges and charges[0]["refunded"]
    assert await received_payments.open_payments(pool) == []
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'refund' AND details->>'charge_id' = $1",
                               charge) == 1  # fmt: skip
    with pytest.raises(staff.SupportError, match="already refunded"):
        await staff.refund(vip_world.client, pool, TelegramStars(telegram_bot), journey.user_id, charge,
                           actor="support:test", reason="twice")  # fmt: skip


async def _ended(journey: Journey) -> bool:
    try:
        return (await journey.handle.describe()).close_time is not None
    except RPCError as error:
        return error.status == RPCStatusCode.NOT_FOUND  # deleted from Temporal after the erasure
