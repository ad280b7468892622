"""Payments for VIP: one provider interface, Telegram Stars behind it, and the Postgres record of every charge.

The journey never talks to a provider directly: it asks for ``SendInvoice`` and ``RefundPayment``
and these activities carry them out through a ``PaymentProvider``. A card provider (Telegram's
provider-token payments) would be one more implementation chosen by the worker; the workflow and
the rules stay as they are. Every activity here is idempotent: invoices are claimed before they
are sent, payments are keyed by Telegram's charge id, a refund already made counts as done.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal, Protocol

import asyncpg
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import LabeledPrice, TransactionPartnerUser
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.projection import refusals_are_final, write_subscription
from activities.telegram import TelegramActivities
from adapters.audit import user_subject, write_audit
from workflows import side_effects
from workflows.contracts import PassRedemption, RecordPayment, RedeemPass, RefundPayment, SaveSubscription, SendInvoice

REFUND_REFUSED: Final = "RefundRefused"
PAGE: Final = 100  # getStarTransactions returns at most 100 per call


@dataclass(frozen=True)
class ProviderTransaction:
    """A charge or a refund as the provider lists it."""

    charge_id: str
    user_id: int | None
    amount: int
    at: datetime
    kind: Literal["payment", "refund"]


class PaymentProvider(Protocol):
    name: str
    currency: str

    async def send_invoice(self, invoice: SendInvoice) -> None: ...

    async def refund(self, user_id: int, charge_id: str) -> None:
        """Give the money back; a charge already refunded counts as done."""
        ...

    def transactions(self) -> AsyncIterator[ProviderTransaction]:
        """Every transaction the provider knows, newest first."""
        ...


class TelegramStars:
    """Telegram Stars (XTR): invoices without a provider token, one price, refunds by charge id."""

    name = "telegram_stars"
    currency = "XTR"

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send_invoice(self, invoice: SendInvoice) -> None:
        await self.bot.send_invoice(
            invoice.user_id,
            title=invoice.title,
            description=invoice.description,
            payload=invoice.payload,
            currency=self.currency,
            prices=[LabeledPrice(label=invoice.title, amount=invoice.stars)],
        )

    async def refund(self, user_id: int, charge_id: str) -> None:
        try:
            await self.bot.refund_star_payment(user_id, charge_id)
        except TelegramBadRequest as refused:
            if "CHARGE_ALREADY_REFUNDED" in refused.message:
                return
            raise ApplicationError(f"Telegram refused the refund: {refused.message}", type=REFUND_REFUSED,
                                   non_retryable=True) from None  # fmt: skip

    async def transactions(self) -> AsyncIterator[ProviderTransaction]:
        offset = 0
        while True:
            page = await self.bot.get_star_transactions(offset=offset, limit=PAGE)
            for item in page.transactions:
                partner = item.source or item.receiver
                user = partner.user if isinstance(partner, TransactionPartnerUser) else None
                yield ProviderTransaction(
                    charge_id=item.id,
                    user_id=user.id if user else None,
                    amount=item.amount,
                    at=item.date if isinstance(item.date, datetime) else datetime.fromtimestamp(item.date, UTC),
                    kind="payment" if item.source is not None else "refund",
                )
            if len(page.transactions) < PAGE:
                return
            offset += PAGE


class PaymentActivities(side_effects.Payments):
    def __init__(self, provider: PaymentProvider, pool: asyncpg.Pool, messages: TelegramActivities) -> None:
        self.provider = provider
        self.pool = pool
        self.messages = messages

    @activity.defn
    async def send_invoice(self, effect: SendInvoice) -> None:
        if not await self.messages.claim(effect.idempotency_key, effect.user_id):
            return
        await self.messages.deliver(effect.idempotency_key, self.provider.send_invoice(effect))

    @activity.defn
    async def record_payment(self, effect: RecordPayment) -> None:
        async with refusals_are_final():
            await self.pool.execute(
                """
            INSERT INTO payments (charge_id, provider, provider_charge_id, telegram_user_id, payload, plan, amount,
                                  currency, paid_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (charge_id) DO NOTHING
            """,
                effect.charge_id,
                self.provider.name,
                effect.provider_charge_id,
                effect.user_id,
                effect.payload,
                effect.plan,
                effect.stars,
                effect.currency,
                effect.paid_at,
            )

    @activity.defn
    async def record_subscription(self, effect: SaveSubscription) -> None:
        async with refusals_are_final():
            await write_subscription(self.pool, effect)

    @activity.defn
    async def refund_payment(self, effect: RefundPayment) -> None:
        """Give the Stars back, then mark the payment refunded and audit it (once, whoever retries)."""
        await self.provider.refund(effect.user_id, effect.charge_id)
        async with self.pool.acquire() as conn, conn.transaction():
            marked = await conn.fetchval(
                """
            UPDATE payments SET refunded_at = $2, refunded_by = $3, refund_reason = $4
            WHERE charge_id = $1 AND refunded_at IS NULL RETURNING charge_id
            """,
                effect.charge_id,
                effect.refunded_at,
                effect.actor,
                effect.reason,
            )
            if marked is not None:
                await write_audit(conn, effect.actor, "refund", user_subject(effect.user_id), effect.reason,
                                  {"charge_id": effect.charge_id})  # fmt: skip

    @activity.defn
    async def redeem_vip_pass(self, claim: RedeemPass) -> PassRedemption:
        """Claim a pass for the user, atomically; claiming one's own pass again answers the same (retries)."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow("SELECT * FROM vip_passes WHERE token = $1 FOR UPDATE", claim.token)
            if row is None:
                return PassRedemption(token=claim.token, refusal="unknown")
            if row["redeemed_at"] is not None:
                mine = row["redeemed_by"] == claim.user_id
                return PassRedemption(token=claim.token, plan=row["plan"] if mine else None,
                                      refusal=None if mine else "used")  # fmt: skip
            if row["expires_at"] <= claim.at:
                return PassRedemption(token=claim.token, refusal="expired")
            await conn.execute("UPDATE vip_passes SET redeemed_by = $2, redeemed_at = $3 WHERE token = $1",
                               claim.token, claim.user_id, claim.at)  # fmt: skip
            return PassRedemption(token=claim.token, plan=row["plan"])


@dataclass(frozen=True)
class Difference:
    charge_id: str
    problem: str


async def reconcile(pool: asyncpg.Pool, provider: PaymentProvider) -> list[Difference]:
    """Compare recorded payments with the provider's own list; an empty list means they agree."""
    rows = await pool.fetch("SELECT charge_id, telegram_user_id, amount, refunded_at FROM payments WHERE provider = $1",
                            provider.name)  # fmt: skip
    recorded = {row["charge_id"]: row for row in rows}
    paid: dict[str, ProviderTransaction] = {}
    refunded: set[str] = set()
    async for transaction in provider.transactions():
        if transaction.kind == "payment":
            paid[transaction.charge_id] = transaction
        else:
            refunded.add(transaction.charge_id)
    differences = [Difference(charge_id, "paid at the provider, not recorded (VIP may be missing)")
                   for charge_id in sorted(paid.keys() - recorded.keys())]  # fmt: skip
    differences += [Difference(charge_id, "recorded, unknown to the provider")
                    for charge_id in sorted(recorded.keys() - paid.keys())]  # fmt: skip
    for charge_id in sorted(paid.keys() & recorded.keys()):
        row, transaction = recorded[charge_id], paid[charge_id]
        if row["amount"] != transaction.amount:
            differences.append(Difference(charge_id, f"amount {row['amount']} recorded, {transaction.amount} paid"))
        if (row["refunded_at"] is not None) != (charge_id in refunded):
            where = "recorded as refunded, not refunded at the provider" if row["refunded_at"] else (
                "refunded at the provider, not recorded as refunded")  # fmt: skip
            differences.append(Difference(charge_id, where))
    return differences
