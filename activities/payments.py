"""Payments for VIP: one provider interface, Telegram Stars behind it, and the Postgres record of every charge.

The journey never talks to a provider directly: it asks for ``SendInvoice`` and ``RefundPayment``
and these activities carry them out through a ``PaymentProvider``. A card provider (Telegram's
provider-token payments) would be one more implementation chosen by the worker; the workflow and
the rules stay as they are. Every activity here is idempotent: invoices are claimed before they
are sent, payments are keyed by Telegram's charge id, a refund already made counts as done.
"""

from __future__ import annotations

import asyncpg
from temporalio import activity

from activities.projection import refusals_are_final, write_subscription
from activities.telegram import TelegramActivities
from adapters.audit import user_subject, write_audit
from adapters.stars import PaymentProvider
from workflows import side_effects
from workflows.contracts import (
    EditStarSubscription,
    PassRedemption,
    RecordPayment,
    RedeemPass,
    RefundPayment,
    SaveSubscription,
    SendInvoice,
)


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
    async def edit_star_subscription(self, effect: EditStarSubscription) -> None:
        """Cancel or resume the renewals; asking Telegram twice for the same answers the same."""
        await self.provider.edit_subscription(effect.user_id, effect.charge_id, canceled=effect.canceled)

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
