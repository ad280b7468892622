"""Changes staff make to a journey (support with the CLI, admins in Telegram): pure rules.

Each change arrives as a ``SupportRequest`` with its own ``request_id`` and is applied once: a
retried CLI call, a redelivered admin command or an Update Temporal re-applies after a reset
changes nothing the second time. A refused change raises ``Rejection`` and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from workflows import shop, story, subscription
from workflows.content import Content
from workflows.contracts import AwardBesitos, Button, Effect, JourneyError, JourneyState, Screen, SupportRequest
from workflows.progress import Turn, award, leaderboard_effect, notification, spendable
from workflows.rules import RECENT_UPDATE_WINDOW, Rejection, erase, save_profile
from workflows.shop import settle

# No single staff change moves more besitos than this: a typo must not mint a fortune.
MAX_GRANT: Final = 100_000


@dataclass
class SupportOutcome:
    state: JourneyState
    message: str
    effects: list[Effect] = field(default_factory=list)
    duplicate: bool = False


def delivery(request: SupportRequest) -> str:
    return f"support:{request.request_id}"


def validate(state: JourneyState, request: SupportRequest) -> None:
    """Raise ``Rejection`` for a change that cannot apply to this journey as it stands."""
    if delivery(request) in state.recent_deliveries:
        return  # applied already: answered as a duplicate
    if request.user_id != state.user_id:
        raise Rejection(JourneyError.FOREIGN_USER, "this journey belongs to another user")
    if state.stage == "erased":
        raise Rejection(JourneyError.ERASED, "this journey was erased at the user's request")
    if state.stage == "lapsed":
        raise Rejection(JourneyError.LAPSED, "this journey ended with its introduction unfinished")
    action = request.action
    if action == "refund" and not any(c.charge_id == request.charge_id for c in state.subscription.charges):
        raise Rejection(JourneyError.SUPPORT_REFUSED, f"no Stars payment {request.charge_id!r} for this user")
    if action == "grant":
        if request.amount == 0 or abs(request.amount) > MAX_GRANT:
            raise Rejection(JourneyError.SUPPORT_REFUSED, f"an amount between 1 and {MAX_GRANT} besitos (or minus)")
        if spendable(state) + request.amount < 0:
            # Besitos held by a leading auction bid are the auction's to take: only the rest can be taken back.
            raise Rejection(JourneyError.SUPPORT_REFUSED,
                            f"the balance is {state.besitos} besitos ({state.wallet.reserved} held by auction bids): "
                            f"{-request.amount} cannot be taken")  # fmt: skip
    if action in ("grant", "restart_story", "give_item") and state.stage != "active":
        raise Rejection(JourneyError.NOT_STARTED, f"{action} needs a journey past the introduction")
    if action == "restart_story" and state.story.fragment_id is None:
        raise Rejection(JourneyError.SUPPORT_REFUSED, "the story has not begun; there is nothing to restart")
    if action == "import_vip" and (request.until is None or request.until.tzinfo is None):
        raise Rejection(JourneyError.SUPPORT_REFUSED, "an import names the moment VIP ends, with its time zone")
    if action == "ban" and state.banned:
        raise Rejection(JourneyError.SUPPORT_REFUSED, "this user is banned already")
    if action == "unban" and not state.banned:
        raise Rejection(JourneyError.SUPPORT_REFUSED, "this user is not banned")


def validate_with(state: JourneyState, request: SupportRequest, content: Content) -> None:
    """The checks that read the content: the item to give exists."""
    if delivery(request) in state.recent_deliveries:
        return
    item = content.shop.by_code.get(request.item) if request.action == "give_item" else None
    if request.action == "give_item" and item is None:
        raise Rejection(JourneyError.SUPPORT_REFUSED, f"the shop has no item {request.item!r}")
    if item is not None and item.stock is not None:
        raise Rejection(JourneyError.SUPPORT_REFUSED, f"{item.code} is limited ({item.stock} made): its units are "
                                                      "sold through the shop only")  # fmt: skip
    if request.action == "import_vip" and request.plan and request.plan not in content.vip.plans_by_code:
        raise Rejection(JourneyError.SUPPORT_REFUSED, f"there is no VIP plan {request.plan!r}")


def apply(state: JourneyState, request: SupportRequest, now: datetime, content: Content) -> SupportOutcome:
    """Apply one staff change; the journey's own due events (VIP expiry) apply first."""
    if delivery(request) in state.recent_deliveries or _imported(state, request):
        return SupportOutcome(state=state, message="already applied", duplicate=True)
    validate(state, request)
    validate_with(state, request, content)
    state = state.model_copy(deep=True)
    state.recent_deliveries = [*state.recent_deliveries, delivery(request)][-RECENT_UPDATE_WINDOW:]
    turn = Turn(state=state, content=content, now=now, cause=delivery(request))
    subscription.tick(turn)
    shop.deliver_due(turn)
    if request.action == "refund":
        try:
            message = subscription.refund(turn, request.charge_id, request.actor, request.reason)
        except subscription.SubscriptionRejection as rejection:
            raise Rejection(rejection.kind, str(rejection)) from None
    elif request.action == "grant":
        message = _grant(turn, request.amount)
    elif request.action == "restart_story":
        message = _restart_story(turn)
    elif request.action == "give_item":
        message = _give_item(turn, request.item)
    elif request.action in ("deliver_order", "refund_purchase"):
        try:
            if request.action == "deliver_order":
                message = shop.deliver_order(turn, request.purchase)
            else:
                message = shop.refund(turn, request.purchase)
        except shop.ShopRejection as rejection:
            raise Rejection(rejection.kind, str(rejection)) from None
        turn.effects.insert(0, save_profile(state, now))
    elif request.action == "import_vip":
        message = _import_vip(turn, request)
    elif request.action in ("ban", "unban"):
        state.banned = request.action == "ban"
        if state.profile is not None:
            turn.effects.append(save_profile(state, now))
        message = f"user {state.user_id} {'banned' if state.banned else 'unbanned'}"
    else:
        erase(turn, request.actor, request.reason)
        message = f"journey {state.user_id} erased: personal data deleted, ledger anonymised"
    return SupportOutcome(state=state, message=message, effects=turn.effects)


def _grant(turn: Turn, amount: int) -> str:
    """Besitos given (or, negative, taken back) by staff. A grant is an award like any other (counted towards levels and
    this week's board, announced with a new level), without the VIP bonus; taking back lowers only the balance."""
    state = turn.state
    if amount > 0:
        award(turn, action="support_grant", key=turn.cause, context={"by": "support"}, amount=amount, vip_bonus=False)
    else:
        state.besitos += amount
        turn.effects.append(AwardBesitos(user_id=state.user_id, idempotency_key=f"journey-{state.user_id}:{turn.cause}",
                                         action="support_revoke", amount=amount, balance_after=state.besitos,
                                         context={"by": "support"}, awarded_at=turn.now))  # fmt: skip
    settle(turn)
    leaderboard_effect(turn)
    turn.effects.insert(0, save_profile(state, turn.now))
    screen = Screen(key="notify.support.granted" if amount > 0 else "notify.support.revoked",
                    params={"amount": abs(amount), "balance": state.besitos},
                    notices=turn.summary()[:-1] if amount > 0 else [],
                    buttons=[[Button(label="menu.open", action="menu")]])  # fmt: skip
    turn.effects.append(notification(state, f"notify:{turn.cause}", screen))
    return f"{'granted' if amount > 0 else 'took back'} {abs(amount)} besitos; balance {state.besitos}"


def _give_item(turn: Turn, code: str) -> str:
    """Staff gives a shop item for free: into the backpack, delivered as a purchase would be, and the user told."""
    state = turn.state
    purchase = shop.give(turn, turn.content.shop.by_code[code], "support")
    settle(turn)
    leaderboard_effect(turn)
    turn.effects.insert(0, save_profile(state, turn.now))
    screen = Screen(key="notify.support.item_given", notices=turn.summary(),
                    buttons=[[Button(label="shop.backpack", action=shop.BACKPACK)]])  # fmt: skip
    turn.effects.append(notification(state, f"notify:{turn.cause}", screen))
    return f"gave {code} ({purchase.id}) to user {state.user_id}"


def _imported(state: JourneyState, request: SupportRequest) -> bool:
    """An import row applied before (long enough ago that its request left the recent deliveries)."""
    charge_id = f"{subscription.IMPORT_PREFIX}{request.request_id}"
    return request.action == "import_vip" and any(c.charge_id == charge_id for c in state.subscription.charges)


def _import_vip(turn: Turn, request: SupportRequest) -> str:
    """A member of the existing community brought over: VIP until the date the import names, once per row (its
    charge id is the request's), on a journey at any stage: one never started keeps it and meets Diana on /start."""
    assert request.until is not None  # validated
    if request.until <= turn.now:
        raise Rejection(JourneyError.SUPPORT_REFUSED, f"{request.until:%Y-%m-%d %H:%M} UTC is past")
    charge_id = f"{subscription.IMPORT_PREFIX}{request.request_id}"
    return subscription.grant_until(turn, charge_id, request.until, request.plan or None)


def _restart_story(turn: Turn) -> str:
    """Back to the first fragment, as a new playthrough: what was completed and earned stays (and pays nothing twice)."""
    state, content = turn.state, turn.content
    state.story.playthrough += 1
    state.story.flags, state.story.relationship = [], 0
    state.story.fragment_id = content.story.start
    story.save_progress(turn)
    screen = Screen(key="notify.support.story_restarted", buttons=[[Button(label="menu.story", action=story.OPEN)]])
    turn.effects.append(notification(state, f"notify:{turn.cause}", screen))
    return f"story restarted at {content.story.start} (playthrough {state.story.playthrough})"
