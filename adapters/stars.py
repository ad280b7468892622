"""Telegram Stars behind one payment-provider interface, and the reconciliation of recorded payments with it.

The journey's activities send invoices and refunds through a ``PaymentProvider``; staff refund through the same
one (in the bot and the CLI), so a refund is reported as done only once Telegram has confirmed it. A card
provider (Telegram's provider-token payments) would be one more implementation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal, Protocol

import asyncpg
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice, TransactionPartnerUser
from temporalio.exceptions import ApplicationError

from adapters.texts import t
from workflows.contracts import SendInvoice

REFUND_REFUSED: Final = "RefundRefused"
SUBSCRIPTION_REFUSED: Final = "SubscriptionEditRefused"
PAGE: Final = 100  # getStarTransactions returns at most 100 per call


@dataclass(frozen=True)
class ProviderTransaction:
    """A charge or a refund as the provider lists it."""

    charge_id: str
    user_id: int | None
    amount: int
    at: datetime
    kind: Literal["payment", "refund"]
    # Paid media bought (sendPaidMedia): the payload the bot sent it with.
    paid_media_payload: str | None = None


class PaymentProvider(Protocol):
    name: str
    currency: str

    async def send_invoice(self, invoice: SendInvoice) -> None: ...

    async def edit_subscription(self, user_id: int, charge_id: str, *, canceled: bool) -> None:
        """Cancel or resume a subscription's renewals; already so counts as done."""
        ...

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
        if invoice.subscription_period:
            await self._send_subscription(invoice)
            return
        await self.bot.send_invoice(
            invoice.user_id,
            title=invoice.title,
            description=invoice.description,
            payload=invoice.payload,
            currency=self.currency,
            prices=[LabeledPrice(label=invoice.title, amount=invoice.stars)],
        )

    async def _send_subscription(self, invoice: SendInvoice) -> None:
        """A subscription is sold through an invoice link only (sendInvoice has no period): a message whose button
        opens it."""
        link = await self.bot.create_invoice_link(
            title=invoice.title, description=invoice.description, payload=invoice.payload, currency=self.currency,
            prices=[LabeledPrice(label=invoice.title, amount=invoice.stars)],
            subscription_period=invoice.subscription_period,
        )  # fmt: skip
        button = InlineKeyboardButton(text=t("vip.subscribe.button", invoice.language, stars=invoice.stars), url=link)
        await self.bot.send_message(invoice.user_id, t("vip.subscribe.link", invoice.language, plan=invoice.title,
                                                       stars=invoice.stars),
                                    reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]))  # fmt: skip

    async def edit_subscription(self, user_id: int, charge_id: str, *, canceled: bool) -> None:
        try:
            await self.bot.edit_user_star_subscription(user_id, charge_id, is_canceled=canceled)
        except TelegramBadRequest as refused:
            # The subscription is over (its period ended, or it was refunded): nothing left to cancel or resume.
            raise ApplicationError(f"Telegram refused to edit the subscription: {refused.message}",
                                   type=SUBSCRIPTION_REFUSED, non_retryable=True) from None  # fmt: skip

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
                    paid_media_payload=(partner.paid_media_payload or "") if isinstance(partner, TransactionPartnerUser)
                    and partner.transaction_type == "paid_media_payment" else None,
                )  # fmt: skip
            if len(page.transactions) < PAGE:
                return
            offset += PAGE


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
    paid_media: list[ProviderTransaction] = []
    async for transaction in provider.transactions():
        if transaction.paid_media_payload is not None:
            paid_media.append(transaction)
        elif transaction.kind == "payment":
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
    return differences + await _paid_media_differences(pool, paid_media)


async def _paid_media_differences(pool: asyncpg.Pool, bought: list[ProviderTransaction]) -> list[Difference]:
    """Paid media purchases the bot kept against Telegram's: by buyer and payload (the update has no charge id)."""
    rows = await pool.fetch("SELECT telegram_user_id, payload, star_count FROM paid_media_purchases "
                            "WHERE telegram_user_id IS NOT NULL")  # fmt: skip
    kept = {(row["telegram_user_id"], row["payload"]): row["star_count"] for row in rows}
    # An erased buyer's purchase is kept without them: it matches any buyer of its offer, once.
    erased = Counter(row["payload"] for row in await pool.fetch(
        "SELECT payload FROM paid_media_purchases WHERE telegram_user_id IS NULL"))  # fmt: skip
    differences: list[Difference] = []
    seen: set[tuple[int | None, str]] = set()
    for transaction in bought:
        key = (transaction.user_id, transaction.paid_media_payload or "")
        if transaction.kind == "refund":
            differences.append(Difference(transaction.charge_id, f"paid media {key[1]!r} refunded to user "
                                          f"{transaction.user_id} at the provider"))  # fmt: skip
            continue
        seen.add(key)
        if key not in kept and erased[key[1]] > 0:
            erased[key[1]] -= 1
            continue
        if key not in kept:
            differences.append(Difference(transaction.charge_id, f"paid media {key[1]!r} bought by user "
                                          f"{transaction.user_id}, not recorded"))  # fmt: skip
        elif kept[key] != transaction.amount:
            differences.append(Difference(transaction.charge_id, f"paid media {key[1]!r}: {kept[key]} recorded, "
                                          f"{transaction.amount} paid"))  # fmt: skip
    differences += [Difference(f"{user_id}:{payload}", "paid media purchase recorded, unknown to the provider")
                    for user_id, payload in sorted(kept.keys() - seen)]  # fmt: skip
    return differences
