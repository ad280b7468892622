"""What staff see of a journey and change in it: support in the CLI (``diana-support``), admins in Telegram.

The journey (the workflow's state) is the truth and Postgres its projection: a view puts the two side by
side and names where they disagree. Changes go through the journey's ``Support`` Update (applied once per
request id) and are audited.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

import asyncpg
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from adapters import received_payments
from adapters.audit import user_subject, write_audit
from adapters.journeys import JourneyRejected, JourneyUnavailable, request_support
from adapters.orders import purchase_number
from adapters.stars import PaymentProvider
from workflows.contracts import JourneyState, SupportAction, SupportReply, SupportRequest
from workflows.journey import JourneyWorkflow, journey_id
from workflows.progress import spendable
from workflows.subscription import NO_STARS

QUERY_TIMEOUT: Final = timedelta(seconds=10)


class SupportError(Exception):
    """A support command that cannot run as asked; nothing was changed."""


@dataclass
class Projection:
    """What Postgres holds about one user, in the journey's terms."""

    profile: dict[str, Any] | None
    ledger_sum: int
    ledger_rows: int
    achievements: set[str]
    missions: set[str]
    story: dict[str, Any] | None
    decisions: int
    subscription: dict[str, Any] | None
    payments: dict[str, bool]  # charge id -> refunded
    reactions: set[str]
    purchases: dict[str, str] = field(default_factory=dict)  # backpack entry ("p<n>") -> status


def disagreements(state: JourneyState, projection: Projection) -> list[str]:
    """Every way Postgres differs from the journey; empty when they agree."""
    found: list[str] = []

    def differ(what: str, journey: object, postgres: object) -> None:
        if journey != postgres:
            found.append(f"{what}: journey {journey!r}, postgres {postgres!r}")

    if state.stage in ("erased", "lapsed"):
        if projection.profile is not None:
            found.append(f"profile: the journey ended ({state.stage}) but Postgres still has the profile")
        return found
    profile = projection.profile
    if profile is None:
        if state.profile is not None:
            found.append("profile: missing in Postgres")
        return found
    differ("stage", state.stage, profile["stage"])
    differ("language", state.language, profile["language"])
    differ("notifications", state.preferences.notifications, profile["notifications"])
    differ("banned", state.banned, profile["banned"])
    differ("besitos (ledger sum)", state.besitos, projection.ledger_sum)
    differ("achievements", sorted(state.achievements), sorted(projection.achievements))
    differ("missions", sorted(state.missions), sorted(projection.missions))
    differ("decisions", state.story.decisions, projection.decisions)
    differ("reactions", sorted(state.community.reacted_posts), sorted(projection.reactions))
    if not state.story.saves and projection.story is not None:
        found.append(f"story: Postgres has progress at {projection.story['fragment_id']!r}, the journey none")
    if not state.subscription.saves and projection.subscription is not None:
        found.append(f"subscription: Postgres has one ({projection.subscription['status']}), the journey none")
    if state.story.saves:
        story = projection.story or {}
        differ("story fragment", state.story.fragment_id, story.get("fragment_id"))
        differ("story playthrough", state.story.playthrough, story.get("playthrough"))
        differ("story completed", state.story.completed, story.get("completed"))
    if state.subscription.saves:
        subscription = projection.subscription or {}
        differ("subscription status", state.subscription.status, subscription.get("status"))
        differ("subscription expiry", state.subscription.expires_at, subscription.get("expires_at"))
    # Passes, VIP days bought with besitos, imported VIP and VIP earned by invitations moved no Stars: Postgres
    # keeps no payment for them.
    charges = {c.charge_id: c.refunded_at is not None for c in state.subscription.charges
               if not c.charge_id.startswith(NO_STARS)}  # fmt: skip
    differ("payments", charges, projection.payments)
    differ("purchases", {p.id: p.status for p in state.wallet.purchases}, projection.purchases)
    return found


@dataclass
class JourneyView:
    user_id: int
    status: str
    run_id: str
    history_length: int
    state: JourneyState
    projection: Projection
    disagreements: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        state, projection = self.state, self.projection
        profile = state.profile
        who = f"{profile.first_name} @{profile.username}" if profile and profile.username else (
            profile.first_name if profile else "?")  # fmt: skip
        story = state.story
        sub = state.subscription
        lines = [
            f"journey-{self.user_id} ({who}): {self.status}, run {self.run_id}, {self.history_length} events",
            f"  stage {state.stage}, language {state.language}, banned {state.banned}, "
            f"last seen {state.last_seen:%Y-%m-%d %H:%M} UTC" if state.last_seen else f"  stage {state.stage}",
            f"  besitos {state.besitos} (lifetime {state.lifetime_besitos}); ledger {projection.ledger_sum} "
            f"in {projection.ledger_rows} rows",
            f"  story at {story.fragment_id or '-'}, playthrough {story.playthrough}, "
            f"{len(story.completed)} fragments completed, {story.decisions} decisions, endings {story.endings or '-'}",
            f"  VIP {sub.status}" + (f" until {sub.expires_at:%Y-%m-%d %H:%M} UTC" if sub.expires_at else "")
            + f", {len(sub.charges)} payment(s)",
            f"  achievements {len(state.achievements)}, missions {len(state.missions)}, "
            f"pending effects {len(state.pending_effects)}, parked effects "
            f"{len(state.parked_effects) + state.parked_dropped}",
        ]  # fmt: skip
        lines += [f"    parked {p.parked_at:%Y-%m-%d %H:%M} UTC: {p.effect.kind.replace('_', ' ')}: {p.reason}"
                  for p in state.parked_effects]  # fmt: skip
        if state.parked_dropped:
            lines.append(f"    (and {state.parked_dropped} older parked effects, no longer kept)")
        lines += wallet_lines(state)
        if not self.disagreements:
            lines.append("  Postgres agrees with the journey.")
        else:
            transient = " (effects still pending: may be transient)" if state.pending_effects else ""
            lines.append(f"  Postgres disagrees with the journey{transient}:")
            lines += [f"    - {line}" for line in self.disagreements]
        return lines


def wallet_lines(state: JourneyState) -> list[str]:
    """The wallet as support reads it: what can be spent, the backpack (every entry), the auction reserves."""
    wallet = state.wallet
    lines = [f"  wallet: spendable {spendable(state)} (balance {state.besitos} - reserved {wallet.reserved}), "
             f"spent {wallet.spent}",
             f"  backpack: {len(wallet.purchases)} entr{'y' if len(wallet.purchases) == 1 else 'ies'}"]  # fmt: skip
    lines += [f"    {p.id}\t{p.item}\t{p.source}\t{p.price} besitos\t{p.status}\t{p.at:%Y-%m-%d %H:%M} UTC"
              + (f"\tdue {p.deliver_at:%Y-%m-%d %H:%M} UTC" if p.deliver_at else "")
              for p in wallet.purchases]  # fmt: skip
    lines.append(f"  reserves: {len(wallet.reserves)}")
    lines += [f"    auction {r.auction}\tbid {r.bid}\t{r.amount} besitos" for r in wallet.reserves]
    return lines


async def resolve_user(pool: asyncpg.Pool, who: str) -> int:
    """A Telegram user id, or ``@username`` looked up in the projection."""
    who = who.strip()
    if who.startswith("@"):
        found = await pool.fetch("SELECT telegram_user_id FROM users WHERE lower(username) = lower($1)", who[1:])
        if len(found) != 1:
            raise SupportError(f"no user {who}" if not found else f"{who} names {len(found)} users; use the id")
        return int(found[0]["telegram_user_id"])
    if not who.lstrip("-").isdigit() or int(who) <= 0:
        raise SupportError(f"{who!r} is neither a Telegram user id nor an @username")
    return int(who)


async def describe_journey(client: Client, user_id: int) -> Any:
    try:
        return await client.get_workflow_handle(journey_id(user_id)).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise SupportError(f"no journey for user {user_id}") from None
        raise


async def journey_state(client: Client, user_id: int, run_id: str | None = None) -> JourneyState:
    """The journey's state as its worker holds it (a query: a worker must be running)."""
    handle = client.get_workflow_handle(journey_id(user_id), run_id=run_id)
    try:
        return await handle.query(JourneyWorkflow.current_state, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as error:
        if error.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            raise SupportError(f"no worker answered for journey {user_id}; is `diana worker` running?") from None
        raise


async def read_projection(pool: asyncpg.Pool, user_id: int) -> Projection:
    async with pool.acquire() as conn:
        profile = await conn.fetchrow(
            "SELECT stage, language, notifications, banned_at IS NOT NULL AS banned, username FROM users "
            "WHERE telegram_user_id = $1",
            user_id,
        )
        ledger = await conn.fetchrow("SELECT coalesce(sum(amount), 0) AS total, count(*) AS rows FROM besitos_ledger "
                                     "WHERE telegram_user_id = $1", user_id)  # fmt: skip
        achievements = await conn.fetch("SELECT code FROM user_achievements WHERE telegram_user_id = $1", user_id)
        missions = await conn.fetch("SELECT code FROM user_missions WHERE telegram_user_id = $1", user_id)
        story = await conn.fetchrow("SELECT fragment_id, playthrough, completed, seq FROM story_progress "
                                    "WHERE telegram_user_id = $1", user_id)  # fmt: skip
        decisions = await conn.fetchval("SELECT count(*) FROM story_decisions WHERE telegram_user_id = $1", user_id)
        subscription = await conn.fetchrow("SELECT status, plan, expires_at, seq FROM subscriptions "
                                           "WHERE telegram_user_id = $1", user_id)  # fmt: skip
        payments = await conn.fetch("SELECT charge_id, refunded_at IS NOT NULL AS refunded FROM payments "
                                    "WHERE telegram_user_id = $1", user_id)  # fmt: skip
        reactions = await conn.fetch("SELECT chat_id, message_id FROM channel_reactions WHERE telegram_user_id = $1",
                                     user_id)  # fmt: skip
        purchases = await conn.fetch("SELECT purchase_id, status FROM shop_purchases WHERE telegram_user_id = $1",
                                     user_id)  # fmt: skip
    story_row = dict(story) if story else None
    if story_row is not None:
        story_row["completed"] = json.loads(story_row["completed"])
    assert ledger is not None
    return Projection(
        profile=dict(profile) if profile else None,
        ledger_sum=int(ledger["total"]),
        ledger_rows=int(ledger["rows"]),
        achievements={row["code"] for row in achievements},
        missions={row["code"] for row in missions},
        story=story_row,
        decisions=int(decisions),
        subscription=dict(subscription) if subscription else None,
        payments={row["charge_id"]: row["refunded"] for row in payments},
        reactions={f"{row['chat_id']}:{row['message_id']}" for row in reactions},
        purchases={purchase_number(row["purchase_id"]): row["status"] for row in purchases},
    )


async def view(client: Client, pool: asyncpg.Pool, user_id: int) -> JourneyView:
    """``show``: the journey's state beside its Postgres projection, and where they differ."""
    description = await describe_journey(client, user_id)
    state = await journey_state(client, user_id)
    projection = await read_projection(pool, user_id)
    return JourneyView(user_id=user_id, status=description.status.name.lower(), run_id=description.run_id,
                       history_length=description.history_length, state=state, projection=projection,
                       disagreements=disagreements(state, projection))  # fmt: skip


async def change(client: Client, pool: asyncpg.Pool, user_id: int, action: SupportAction, *, actor: str, reason: str,
                 amount: int = 0, charge_id: str = "", item: str = "", purchase: str = "",
                 request_id: str | None = None) -> SupportReply:  # fmt: skip
    """A staff change through the journey's ``Support`` Update (applied once per request id), then audited once."""
    description = await describe_journey(client, user_id)
    if description.status != WorkflowExecutionStatus.RUNNING:
        raise SupportError(f"the journey of user {user_id} is closed ({description.status.name.lower()})")
    request = SupportRequest(request_id=request_id or str(uuid.uuid4()), user_id=user_id, actor=actor,
                             action=action, reason=reason, amount=amount, charge_id=charge_id, item=item,
                             purchase=purchase)  # fmt: skip
    try:
        reply = await request_support(client, request)
    except JourneyRejected as rejected:
        raise SupportError(rejected.message or rejected.kind) from None
    except JourneyUnavailable as unavailable:
        raise SupportError(f"{unavailable.reason}; is `diana worker` running?") from None
    # The erasure audits itself, with who asked and why, once the data is gone.
    if not reply.duplicate and action != "erase":
        await write_audit(pool, actor, action, user_subject(user_id), reason,
                          {"request_id": request.request_id, "amount": amount, "charge_id": charge_id,
                           "item": item, "purchase": purchase, "message": reply.message},
                          once_by="request_id")  # fmt: skip
    return reply


async def _refunded_already(client: Client, pool: asyncpg.Pool, user_id: int, charge_id: str) -> bool:
    """As the journey knows it (its projection may not have caught up), or as Postgres recorded it."""
    if await pool.fetchval("SELECT refunded_at IS NOT NULL FROM payments WHERE charge_id = $1", charge_id):
        return True
    try:
        charges = (await journey_state(client, user_id)).subscription.charges
    except (SupportError, RPCError):
        return False  # no journey to ask (erased, never begun): Telegram's answer decides
    return any(charge.charge_id == charge_id and charge.refunded_at is not None for charge in charges)


class TelegramRefusedRefund(SupportError):
    """Telegram did not give the Stars back; nothing changed."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Telegram refused the refund: {reason}")
        self.reason = reason


async def refund(client: Client, pool: asyncpg.Pool, provider: PaymentProvider, user_id: int, charge_id: str, *,
                 actor: str, reason: str, request_id: str | None = None) -> str | None:  # fmt: skip
    """Give a Stars payment back: Telegram first (done only once it confirmed), then the journey ends the VIP it
    bought. A payment the journey never applied (received, then refused or never taken) is marked given back where it
    was received instead: returns None then, else the journey's message."""
    received = await received_payments.find(pool, charge_id)
    if received is not None and received["telegram_user_id"] not in (None, user_id):
        raise SupportError(f"payment {charge_id!r} is not user {user_id}'s")
    if await _refunded_already(client, pool, user_id, charge_id) or (received and received["refunded_at"]):
        raise SupportError(f"payment {charge_id!r} was already refunded")
    try:
        await provider.refund(user_id, charge_id)
    except ApplicationError as refused:
        raise TelegramRefusedRefund(refused.message) from None
    if received is not None and received["applied_at"] is None:
        await received_payments.refunded(pool, charge_id)
        await write_audit(pool, actor, "refund", user_subject(user_id), reason,
                          {"charge_id": charge_id, "applied": False})  # fmt: skip
        return None
    try:
        reply = await change(client, pool, user_id, "refund", actor=actor, reason=reason, charge_id=charge_id,
                             request_id=request_id)  # fmt: skip
    except SupportError as error:
        # Telegram's own word of the refund (its service message) may have reached the journey first.
        charges = (await journey_state(client, user_id)).subscription.charges
        if any(c.charge_id == charge_id and c.refunded_at is not None for c in charges):
            return f"refunded {charge_id} to user {user_id}; VIP ended"
        raise SupportError(f"Telegram gave the Stars back, but the journey did not record it: {error}") from None
    return reply.message
