"""The emulator's Telegram Stars subscriptions, through the real aiogram Bot: a 30-day invoice link, its first
payment, renewals charged when the period is due, a user without enough Stars, editUserStarSubscription, refunds and
getStarTransactions."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import LabeledPrice, TransactionPartnerUser

from tests.telegram import EmulatedUser, control
from tests.test_emulator_payments import Inbox, checkout
from tools.emulator import BotAPIEmulator

PERIOD = 2_592_000
PRICE = [LabeledPrice(label="VIP Mensual", amount=250)]


@pytest.fixture
def ana(http: aiohttp.ClientSession, emulator: BotAPIEmulator) -> EmulatedUser:
    return EmulatedUser(http, emulator.base_url, 7, first_name="Ana", username="ana")


async def subscription_link(bot: Bot, payload: str = "vip:7:mensual:3") -> str:
    return await bot.create_invoice_link(title="VIP Mensual", description="30 días", payload=payload, currency="XTR",
                                         prices=PRICE, subscription_period=PERIOD)  # fmt: skip


async def subscribe(bot: Bot, ana: EmulatedUser) -> tuple[Inbox, str, dict[str, Any]]:
    """Ana pays a subscription link; the bot's inbox is past the payment."""
    inbox = Inbox(bot)
    link = await subscription_link(bot)
    paid = await checkout(inbox, ana, invoice_link=link)
    return inbox, link, paid


async def subscriptions(http: aiohttp.ClientSession, emulator: BotAPIEmulator) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = await control(http, "GET", f"{emulator.base_url}/control/subscriptions")
    return result


class TestSubscriptionLinks:
    @pytest.mark.parametrize(("change", "error"), [
        ({"subscription_period": 86400}, "SUBSCRIPTION_PERIOD_INVALID"),
        ({"prices": [LabeledPrice(label="VIP", amount=2501)]}, "CURRENCY_TOTAL_AMOUNT_INVALID"),
    ])  # fmt: skip
    async def test_only_30_days_and_at_most_2500_stars(self, telegram_bot: Bot, change: dict[str, Any],
                                                       error: str) -> None:  # fmt: skip
        terms: dict[str, Any] = {"title": "VIP", "description": "30 días", "payload": "p", "currency": "XTR",
                                 "prices": PRICE, "subscription_period": PERIOD, **change}  # fmt: skip
        with pytest.raises(TelegramBadRequest, match=error):
            await telegram_bot.create_invoice_link(**terms)

    async def test_the_first_payment_is_recurring_with_its_expiration(self, telegram_bot: Bot, ana: EmulatedUser,
                                                                      http: aiohttp.ClientSession,
                                                                      emulator: BotAPIEmulator) -> None:  # fmt: skip
        inbox, link, paid = await subscribe(telegram_bot, ana)
        message = (await inbox.one()).message
        assert message is not None and message.successful_payment is not None
        receipt = message.successful_payment
        assert receipt.is_recurring and receipt.is_first_recurring and receipt.invoice_payload == "vip:7:mensual:3"
        assert receipt.subscription_expiration_date is not None
        (sub,) = await subscriptions(http, emulator)
        assert sub["subscription_id"] == paid["telegram_payment_charge_id"] == receipt.telegram_payment_charge_id
        assert sub["period"] == PERIOD and sub["active"] and not sub["canceled"]
        assert receipt.subscription_expiration_date == sub["expiration_date"]
        with pytest.raises(AssertionError, match="SUBSCRIPTION_ALREADY_ACTIVE"):
            await ana.pay(invoice_link=link)


class TestRenewals:
    async def test_each_renewal_is_a_recurring_payment_without_pre_checkout(self, telegram_bot: Bot,
                                                                            ana: EmulatedUser) -> None:  # fmt: skip
        inbox, link, paid = await subscribe(telegram_bot, ana)
        first = (await inbox.one()).message
        assert first is not None and first.successful_payment is not None
        expiration = first.successful_payment.subscription_expiration_date
        assert isinstance(expiration, int)
        for n in (1, 2, 3):
            (renewal,) = await ana.renew_subscriptions()
            assert renewal["outcome"] == "renewed"
            update = await inbox.one()
            assert update.update_id == renewal["update_id"] and update.pre_checkout_query is None
            assert update.message is not None and update.message.successful_payment is not None
            receipt = update.message.successful_payment
            assert receipt.is_recurring and not receipt.is_first_recurring
            assert receipt.invoice_payload == "vip:7:mensual:3"
            assert receipt.telegram_payment_charge_id == renewal["telegram_payment_charge_id"]
            assert receipt.telegram_payment_charge_id != paid["telegram_payment_charge_id"]
            assert receipt.subscription_expiration_date == expiration + n * PERIOD
        page = await telegram_bot.get_star_transactions()
        assert len(page.transactions) == 4
        for item in page.transactions:
            assert isinstance(item.source, TransactionPartnerUser) and item.source.subscription_period == PERIOD
            assert item.amount == 250

    async def test_a_user_without_enough_stars_is_not_charged_and_the_subscription_lapses(
        self, telegram_bot: Bot, ana: EmulatedUser, http: aiohttp.ClientSession, emulator: BotAPIEmulator
    ) -> None:
        inbox, _, _ = await subscribe(telegram_bot, ana)
        await inbox.one()
        await ana.set_stars(249)
        (renewal,) = await ana.renew_subscriptions()
        assert renewal["outcome"] == "insufficient_stars" and renewal["update_id"] is None
        assert await inbox.take(wait=1) == []
        (sub,) = await subscriptions(http, emulator)
        assert not sub["active"] and len(sub["charges"]) == 1
        await ana.set_stars(10_000)
        assert await ana.renew_subscriptions() == [], "a lapsed subscription is never charged again"

    async def test_cancel_stops_renewals_resume_lets_them_go_on(self, telegram_bot: Bot, ana: EmulatedUser,
                                                               http: aiohttp.ClientSession,
                                                               emulator: BotAPIEmulator) -> None:  # fmt: skip
        inbox, _, paid = await subscribe(telegram_bot, ana)
        await inbox.one()
        charge = paid["telegram_payment_charge_id"]
        assert await telegram_bot.edit_user_star_subscription(7, charge, is_canceled=True)
        assert await telegram_bot.edit_user_star_subscription(7, charge, is_canceled=True), "the same, twice"
        assert (await subscriptions(http, emulator))[0]["canceled"]
        assert await telegram_bot.edit_user_star_subscription(7, charge, is_canceled=False)
        (renewal,) = await ana.renew_subscriptions()
        assert renewal["outcome"] == "renewed"
        await inbox.one()
        assert await telegram_bot.edit_user_star_subscription(7, charge, is_canceled=True)
        (ended,) = await ana.renew_subscriptions()
        assert ended["outcome"] == "canceled" and await inbox.take(wait=1) == []
        with pytest.raises(TelegramBadRequest, match="SUBSCRIPTION_NOT_ACTIVE"):
            await telegram_bot.edit_user_star_subscription(7, charge, is_canceled=False)
        with pytest.raises(TelegramBadRequest, match="CHARGE_ID_INVALID"):
            await telegram_bot.edit_user_star_subscription(8, charge, is_canceled=True)

    async def test_a_refunded_renewal_ends_the_subscription(self, telegram_bot: Bot, ana: EmulatedUser,
                                                            http: aiohttp.ClientSession,
                                                            emulator: BotAPIEmulator) -> None:  # fmt: skip
        inbox, _, _ = await subscribe(telegram_bot, ana)
        await inbox.one()
        (renewal,) = await ana.renew_subscriptions()
        await inbox.one()
        assert await telegram_bot.refund_star_payment(7, renewal["telegram_payment_charge_id"])
        refund = (await inbox.one()).message
        assert refund is not None and refund.refunded_payment is not None
        assert not (await subscriptions(http, emulator))[0]["active"]
        assert await ana.renew_subscriptions() == []
