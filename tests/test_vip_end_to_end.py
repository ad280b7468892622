"""VIP through the real bot process: Stars invoice, pre-checkout, payment, channel link, passes, refunds, and the
monthly plan as a Stars subscription (renewals, cancel and resume on the VIP screen)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import AsyncIterator, Callable

import aiohttp
import asyncpg
import pytest
from aiogram import Bot
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters.stars import TelegramStars, reconcile
from adapters.texts import t
from infra.settings import EMULATOR_VIP_CHANNEL
from tests.helpers import eventually, new_user_id
from tests.telegram import EmulatedUser, control, onboard, pay_invoice, payments, redeliver, vip_invoice
from tests.test_end_to_end import bot_environment, running_bot
from tools.emulator import BotAPIEmulator
from workflows.contracts import JourneyError, JourneyState
from workflows.journey import JourneyWorkflow, journey_id

ADMIN = 4_000_002


@pytest.fixture
async def vip_bot(
    emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, task_queue: str, database: str, redis_server: str,
    worker: Worker,
) -> AsyncIterator[subprocess.Popen[bytes]]:  # fmt: skip
    env = bot_environment(emulator, temporal_env, task_queue, database, redis_server, ADMIN_IDS=str(ADMIN),
                          VIP_CHANNEL_ID=str(EMULATOR_VIP_CHANNEL))  # fmt: skip
    async with running_bot(env) as process:
        yield process


async def test_a_fan_buys_vip_with_stars_joins_the_channel_and_is_refunded(
    vip_bot: subprocess.Popen[bytes], emulator: BotAPIEmulator, http: aiohttp.ClientSession, client: Client,
    pool: asyncpg.Pool,
) -> None:  # fmt: skip
    fan = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Lola")
    menu = await onboard(fan)
    await fan.press(menu["message_id"], fan.button(menu, "VIP"))
    plans = await fan.next_from_bot()
    assert "Elige tu plan" in plans["text"]
    await fan.press(plans["message_id"], fan.button(plans, "VIP Trimestral"))  # a one-time purchase: an invoice
    invoice = await fan.next_from_bot("bot_invoice", within=30)
    assert (invoice["currency"], invoice["total_amount"], invoice["title"]) == ("XTR", 600, "VIP Trimestral")

    # Someone else's invoice: the bot refuses the pre-checkout with the journey's words, no Stars move.
    forged = await fan.pay(payload=invoice["payload"].replace(str(fan.user_id), "4242"), total_amount=600)
    assert forged["answered"] and not forged["ok"]
    assert forged["error_message"] == t(f"reject.{JourneyError.INVOICE_FOREIGN}", "es")

    paid = await fan.pay(message_id=invoice["message_id"])
    assert paid["answered"] and paid["ok"], paid
    await fan.next_saying("círculo íntimo")
    invite = await fan.next_saying("canal privado")
    link = invite["buttons"][0][0]["url"]

    # Telegram delivers the successful payment again: still one payment, one month.
    await redeliver(http, emulator.base_url, paid["update_id"])
    handle = client.get_workflow_handle(journey_id(fan.user_id))

    async def settled() -> JourneyState | None:
        state: JourneyState = await handle.query(JourneyWorkflow.current_state)
        return state if not state.pending_effects and state.subscription.charges else None

    state = await eventually(settled, within=30)
    assert state is not None and state.vip and len(state.subscription.charges) == 1
    assert await pool.fetchval("SELECT count(*) FROM payments WHERE telegram_user_id = $1", fan.user_id) == 1

    # The link lets the fan in, once; nobody else can use it.
    assert (await fan.join(EMULATOR_VIP_CHANNEL, invite_link=link))["status"] == "member"
    stranger = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Eco")
    with pytest.raises(AssertionError, match="INVITE_HASH_EXPIRED"):
        await stranger.join(EMULATOR_VIP_CHANNEL, invite_link=link)

    # The link sent at purchase lapses in a day: the VIP screen gives a VIP a fresh one, which lets them in again.
    await fan.leave(EMULATOR_VIP_CHANNEL)
    await fan.send("/start")
    menu = await fan.next_from_bot("bot_message")
    while "💎 VIP" not in str(menu["buttons"]):  # the menu, after the notices that may come before it
        menu = await fan.next_from_bot("bot_message")
    await fan.press(menu["message_id"], fan.button(menu, "VIP"))
    vip_screen = await fan.next_from_bot()
    assert "Eres VIP" in vip_screen["text"]
    await fan.press(vip_screen["message_id"], fan.button(vip_screen, "enlace nuevo"))
    fresh = await fan.next_saying("Tu enlace a mi canal")
    fresh_link = fresh["buttons"][0][0]["url"]
    assert fresh_link != link
    assert (await fan.join(EMULATOR_VIP_CHANNEL, invite_link=fresh_link))["status"] == "member"
    # Asked again at once: the link just sent is the way in (no flood of links).
    answered = [e for e in await fan.transcript()
                if e["kind"] == "bot_edit" and e["message_id"] == vip_screen["message_id"]][-1]  # fmt: skip
    assert "enlace nuevo" in answered["text"]
    await fan.press(answered["message_id"], fan.button(answered, "VIP"))
    again = await fan.next_from_bot("bot_edit")
    await fan.press(again["message_id"], fan.button(again, "enlace nuevo"))
    recent = await fan.next_from_bot("bot_edit")
    assert "hace un momento" in recent["text"]
    invites = [e for e in await fan.transcript() if e["kind"] == "bot_message" and "Tu enlace a mi canal" in e["text"]]
    assert len(invites) == 2

    # Refunds are for admins; a fan trying is refused and audited.
    charge = paid["telegram_payment_charge_id"]
    await fan.send(f"/reembolsar {fan.user_id} {charge} me arrepentí")
    await fan.next_saying("solo para quienes administran")
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'refund refused' AND actor = $1",
                               f"user:{fan.user_id}") == 1  # fmt: skip
    admin = EmulatedUser(http, emulator.base_url, ADMIN, first_name="Admin")
    # Telegram refuses the refund: the admin is told so, and nothing changed (a refund is done only once Telegram
    # confirmed it).
    await control(http, "POST", f"{emulator.base_url}/control/faults",
                  {"count": 1, "error_code": 400, "methods": ["refundStarPayment"]})  # fmt: skip
    await admin.send(f"/reembolsar {fan.user_id} {charge} compra duplicada")
    await admin.next_saying(t("admin.refund.telegram_refused", "es", reason="")[:25])
    assert (await handle.query(JourneyWorkflow.current_state)).vip
    assert not [c for c in await payments(http, emulator.base_url) if c["refunded"]]
    await admin.send(f"/reembolsar {fan.user_id} {charge} compra duplicada")
    await admin.next_saying("Reembolso hecho")
    await admin.send(f"/reembolsar {fan.user_id} {charge} otra vez")
    again = await admin.next_saying("Reembolso rechazado")
    assert "already refunded" in again["text"]

    async def refunded() -> JourneyState | None:
        state: JourneyState = await handle.query(JourneyWorkflow.current_state)
        return state if state.subscription.status == "refunded" and not state.pending_effects else None

    assert await eventually(refunded, within=30)
    assert await pool.fetchval("SELECT refunded_at IS NOT NULL FROM payments WHERE charge_id = $1", charge)
    members = await EmulatedUser(http, emulator.base_url, fan.user_id).transcript(chat_id=EMULATOR_VIP_CHANNEL)
    assert [e["kind"] for e in members if e.get("user_id") == fan.user_id][-2:] == ["bot_ban", "bot_unban"]

    await fan.send("/paysupport")
    await fan.next_saying("Soporte de pagos")


async def test_an_admin_pass_opens_vip_for_one_newcomer_only(
    vip_bot: subprocess.Popen[bytes], emulator: BotAPIEmulator, http: aiohttp.ClientSession, client: Client,
    pool: asyncpg.Pool,
) -> None:  # fmt: skip
    admin = EmulatedUser(http, emulator.base_url, ADMIN, first_name="Admin")
    await admin.send("/pase diamante")
    usage = await admin.next_from_bot("bot_message", within=30)
    assert "mensual" in usage["text"] and "trimestral" in usage["text"]
    await admin.send("/pase trimestral")
    made = await admin.next_from_bot("bot_message")
    token = re.search(r"start=vip_([A-Za-z0-9_-]+)", made["text"])
    assert token is not None, made["text"]

    newcomer = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Nube")
    await newcomer.send(f"/start vip_{token.group(1)}")
    first = await newcomer.next_from_bot("bot_message", within=60)
    assert "Soy <b>Diana</b>" in first["text"] or "Soy Diana" in first["text"]
    redeemed = await newcomer.next_from_bot("bot_message", within=30)
    assert "Pase VIP canjeado" in redeemed["text"]
    state = await client.get_workflow_handle(journey_id(newcomer.user_id)).query(JourneyWorkflow.current_state)
    assert state.vip and state.subscription.plan == "trimestral"

    latecomer = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Tarde")
    await latecomer.send(f"/start vip_{token.group(1)}")
    await latecomer.next_from_bot("bot_message", within=60)
    refused = await latecomer.next_from_bot("bot_message", within=30)
    assert t("notice.vip.pass.used", "es") in refused["text"]
    assert await pool.fetchval("SELECT redeemed_by FROM vip_passes WHERE token = $1", token.group(1)) == (
        newcomer.user_id)  # fmt: skip


async def test_the_monthly_plan_renews_itself_and_the_vip_screen_cancels_and_resumes_it(
    vip_bot: subprocess.Popen[bytes], emulator: BotAPIEmulator, http: aiohttp.ClientSession, client: Client,
    pool: asyncpg.Pool, telegram_bot: Bot,
) -> None:  # fmt: skip
    fan = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Rita")
    menu = await onboard(fan)
    link_message = await vip_invoice(fan, menu)
    assert "cada 30 días" in link_message["text"] and "invoice_link" in link_message
    paid = await pay_invoice(fan, link_message)
    assert paid["answered"] and paid["ok"], paid
    await fan.next_saying("círculo íntimo")
    handle = client.get_workflow_handle(journey_id(fan.user_id))

    async def state_where(check: Callable[[JourneyState], bool]) -> JourneyState | None:
        state: JourneyState = await handle.query(JourneyWorkflow.current_state)
        return state if check(state) and not state.pending_effects else None

    state = await eventually(lambda: state_where(lambda s: s.vip and s.subscription.renews), within=30)
    assert state is not None and state.subscription.renewal_charge_id == paid["telegram_payment_charge_id"]

    # The VIP screen: it renews on its own, and can be canceled.
    await fan.send("/start")
    menu = await fan.next_from_bot("bot_message")
    while "💎 VIP" not in str(menu["buttons"]):
        menu = await fan.next_from_bot("bot_message")
    await fan.press(menu["message_id"], fan.button(menu, "VIP"))
    screen = await fan.next_from_bot()
    assert "se renueva el" in screen["text"] and "VIP Mensual" not in str(screen["buttons"])
    await fan.press(screen["message_id"], fan.button(screen, "Cancelar renovación"))
    screen = await fan.next_from_bot("bot_edit")
    assert "termina el" in screen["text"] and "Reanudar" in str(screen["buttons"])

    async def at_telegram(canceled: bool) -> bool | None:
        subs = await control(http, "GET", f"{emulator.base_url}/control/subscriptions")
        return True if [s["canceled"] for s in subs if s["user_id"] == fan.user_id] == [canceled] else None

    assert await eventually(lambda: at_telegram(True), within=30)
    await fan.press(screen["message_id"], fan.button(screen, "Reanudar"))
    screen = await fan.next_from_bot("bot_edit")
    assert "se renueva el" in screen["text"] and "Cancelar renovación" in str(screen["buttons"])
    assert await eventually(lambda: at_telegram(False), within=30)

    # Telegram charges the next period: the bot applies it, once, and VIP goes on to Telegram's date.
    (renewal,) = await fan.renew_subscriptions()
    assert renewal["outcome"] == "renewed"
    await fan.next_saying("Renovado")
    await redeliver(http, emulator.base_url, renewal["update_id"])
    state = await eventually(lambda: state_where(lambda s: len(s.subscription.charges) == 2), within=30)
    assert state is not None and state.subscription.expires_at is not None
    assert int(state.subscription.expires_at.timestamp()) == renewal["subscription_expiration_date"]
    assert await pool.fetchval("SELECT count(*) FROM payments WHERE telegram_user_id = $1", fan.user_id) == 2
    assert await reconcile(pool, TelegramStars(telegram_bot)) == []
