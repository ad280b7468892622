"""Paid media: an admin sells photos and videos for Stars to a segment (/vender), and each purchase is kept.

``/vender <estrellas> <segmento> <texto>`` goes the way of ``/difundir`` (a preview, ✅, a durable broadcast), the
media sent with ``sendPaidMedia`` and a payload naming the offer (``paid:<broadcast id>``), whose price is kept in
``paid_media_offers`` when it is confirmed. Telegram reports each purchase in a private chat with a
``purchased_paid_media`` update: the bot keeps it in Postgres first (``paid_media_purchases``, once per user and
offer: a Star received is never dropped), then hands it to the buyer's journey, which remembers it once. Stars paid
for paid media posted in a channel go to the channel, and Telegram tells the bot nothing of them.
"""

from __future__ import annotations

import logging

import asyncpg
from aiogram import Router
from aiogram.types import PaidMediaPurchased, Update

from adapters.journeys import JourneyRejected, Journeys, JourneyUnavailable
from bot.dead_letters import keep_for_support
from bot.replies import journey_request
from workflows.broadcast_contracts import BroadcastInput
from workflows.contracts import MAX_PAID_MEDIA_PAYLOAD

router = Router(name=__name__)
log = logging.getLogger("diana.bot")


async def keep_offer(pool: asyncpg.Pool, broadcast: BroadcastInput) -> None:
    """The offer a confirmed sale makes: its payload and price (once, whatever the presses)."""
    await pool.execute(
        """
        INSERT INTO paid_media_offers (payload, star_count, broadcast_id, media_kinds, caption, created_by)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (payload) DO NOTHING
        """,
        broadcast.paid_media_payload,
        broadcast.star_count,
        broadcast.broadcast_id,
        [item.kind for item in broadcast.media],
        broadcast.text,
        broadcast.actor,
    )


async def keep_purchase(pool: asyncpg.Pool, user_id: int, payload: str) -> bool:
    """The purchase as Telegram reported it, with its offer's price; False when it was kept already."""
    kept = await pool.fetchval(
        """
        INSERT INTO paid_media_purchases (telegram_user_id, payload, star_count)
        VALUES ($1, $2, (SELECT star_count FROM paid_media_offers WHERE payload = $2))
        ON CONFLICT (telegram_user_id, payload) DO NOTHING
        RETURNING id
        """,
        user_id,
        payload,
    )
    return kept is not None


@router.purchased_paid_media()
async def purchased(purchase: PaidMediaPurchased, event_update: Update, journeys: Journeys,
                    pool: asyncpg.Pool) -> None:  # fmt: skip
    """A user bought paid media the bot sent them: kept, then remembered by their journey (each once)."""
    payload = purchase.paid_media_payload[:MAX_PAID_MEDIA_PAYLOAD]
    await keep_purchase(pool, purchase.from_user.id, payload)
    request = journey_request(event_update, purchase.from_user, "paid_media", action=payload)
    try:
        await journeys.interact_if_started(request)
    except JourneyRejected as rejected:
        # Kept in Postgres all the same (an erased or banned-before-start buyer): support sees it there.
        log.warning("paid media purchase %s of user %s not in a journey: %s", payload, purchase.from_user.id,
                    rejected.kind)  # fmt: skip
    except JourneyUnavailable as unavailable:
        # Kept in Postgres: the revenue counts it; support hands the update to the journey later.
        keep_for_support(unavailable.reason)
