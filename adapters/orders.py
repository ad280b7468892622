"""Orders: creator's rewards bought or given and waiting for the admins to fulfil them by hand, as Postgres projects
them (``shop_purchases`` with status ``waiting``). The journey stays the truth: delivering or refunding one goes through
its ``Support`` Update (``adapters.staff.change``); this module only reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import asyncpg

# What one list shows at most (a message of Telegram holds 100 buttons and 4096 characters).
MAX_SHOWN: Final = 10

_WAITING: Final = """
SELECT p.purchase_id, p.telegram_user_id, p.item, p.source, p.price, p.bought_at, u.first_name, u.username,
       count(*) OVER () AS total
FROM shop_purchases AS p LEFT JOIN users AS u USING (telegram_user_id)
WHERE p.status = 'waiting' AND p.telegram_user_id IS NOT NULL
ORDER BY p.bought_at, p.purchase_id
LIMIT $1
"""


@dataclass(frozen=True)
class Order:
    """One waiting order: whose, what, when, for how much."""

    user_id: int
    purchase: str  # the journey's name of the backpack entry, "p<n>"
    item: str
    source: str
    price: int
    bought_at: datetime
    first_name: str | None
    username: str | None


@dataclass(frozen=True)
class WaitingOrders:
    orders: list[Order]  # the oldest first, at most MAX_SHOWN
    total: int


def purchase_number(purchase_id: str) -> str:
    """The journey's own name of a backpack entry ("p3") from Postgres' ("journey-<user>:p3")."""
    return purchase_id.rpartition(":")[2]


async def waiting(pool: asyncpg.Pool, limit: int = MAX_SHOWN) -> WaitingOrders:
    """Orders waiting for an admin, the oldest first (an erased user's are gone with the user)."""
    rows = await pool.fetch(_WAITING, limit)
    orders = [Order(user_id=row["telegram_user_id"], purchase=purchase_number(row["purchase_id"]), item=row["item"],
                    source=row["source"], price=row["price"], bought_at=row["bought_at"],
                    first_name=row["first_name"], username=row["username"]) for row in rows]  # fmt: skip
    return WaitingOrders(orders=orders, total=int(rows[0]["total"]) if rows else 0)
