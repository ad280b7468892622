"""Diana's shop: spending besitos on the content's catalogue, and the backpack that keeps what was bought or given.

Pure rules over ``JourneyState.wallet``. A purchase is confirmed on the item's own screen (its button is pressed once:
a second press belongs to an older screen); a limited item's unit is claimed in Postgres before the rules run
(``StockClaimed``), so two buyers of the last one never both pay. Every spend and refund is a ledger row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from workflows import subscription
from workflows.content import Content, Item
from workflows.contracts import (
    Button,
    Charge,
    JourneyError,
    JourneyState,
    Notice,
    Purchase,
    PurchaseSource,
    RecordPurchase,
    ReleaseStock,
    Screen,
    StockClaimed,
)
from workflows.days import local_moment, next_local_time
from workflows.progress import Turn, give_back, notification, spend, spendable
from workflows.progress import settle as settle_goals
from workflows.story import OPEN as STORY
from workflows.story import screen_media

OPEN: Final = "shop"
ITEM: Final = "shop.item."  # "shop.item.<code>": the item's screen, where it is bought
BUY: Final = "shop.buy."  # "shop.buy.<code>": the purchase, confirmed
BACKPACK: Final = "backpack"
REOPEN: Final = "backpack."  # "backpack.<purchase id>": open again what was bought
AUCTIONS: Final = "auctions"  # drawn by the bot from the running auctions
# The backpack shows the latest entries (Telegram takes at most 100 buttons; a screen this long is enough).
BACKPACK_SHOWN: Final = 20
# Gifts handed out per turn at most (settling chains missions and achievements; content cannot chain more).
MAX_GIFTS: Final = 20


class ShopRejection(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def is_shop_action(action: str) -> bool:
    return action in (OPEN, BACKPACK) or action.startswith((ITEM, BUY, REOPEN))


def check(state: JourneyState, content: Content, action: str) -> None:
    """Refuse a shop button naming what does not exist (an item gone from the catalogue, a purchase not theirs)."""
    if action.startswith((ITEM, BUY)):
        code = action.removeprefix(ITEM).removeprefix(BUY)
        if code not in content.shop.by_code:
            raise ShopRejection(JourneyError.UNKNOWN_ACTION, f"the shop has no item {code!r}")
    if action.startswith(REOPEN) and _purchase(state, action.removeprefix(REOPEN)) is None:
        raise ShopRejection(JourneyError.UNKNOWN_ACTION, "no such thing in this backpack")


def buying(action: str, content: Content) -> Item | None:
    """The item a button buys, when it is a purchase of a limited one (its unit is claimed before the rules run)."""
    if not action.startswith(BUY):
        return None
    item = content.shop.by_code.get(action.removeprefix(BUY))
    return item if item is not None and item.stock is not None else None


def claim_id(state: JourneyState, cause: str) -> str:
    return f"journey-{state.user_id}:stock:{cause}"


def refusal(state: JourneyState, item: Item, now: datetime) -> str | None:
    """Why this user cannot buy ``item`` now: "closed" (outside its window), "limit" (bought as many as allowed),
    "funds" (not enough spendable besitos); None when they can."""
    if not item.on_sale(now):
        return "closed"
    if item.per_user is not None and bought(state, item.code) >= item.per_user:
        return "limit"
    if spendable(state) < item.price_for(state.vip):
        return "funds"
    return None


def bought(state: JourneyState, code: str) -> int:
    return sum(1 for p in state.wallet.purchases if p.item == code and p.source == "shop" and p.status != "refunded")


def shop_screen(state: JourneyState, content: Content, now: datetime) -> Screen:
    """🛍️ The items on sale, each with this user's price; the backpack and the auctions."""
    language = state.language
    rows = [[Button(label="", action=f"{ITEM}{item.code}",
                    text=f"{item.name.get(language)} · 💋 {item.price_for(state.vip)}")]
            for item in content.shop.items if item.on_sale(now)]  # fmt: skip
    rows += [[Button(label="shop.backpack", action=BACKPACK), Button(label="shop.auctions", action=AUCTIONS)],
             [Button(label="menu.back", action="menu")]]  # fmt: skip
    return Screen(key="shop.menu" if len(rows) > 2 else "shop.empty", params=_wallet_params(state), buttons=rows)


def item_screen(state: JourneyState, content: Content, item: Item, now: datetime, why: str | None = None) -> Screen:
    """The item, its price for this user and what it gives: the purchase's confirmation (or why it cannot be)."""
    language, price = state.language, item.price_for(state.vip)
    why = why or refusal(state, item, now)
    params: dict[str, str | int] = {
        "name": item.name.get(language),
        "description": item.description.get(language),
        "price": price,
        "gives_key": f"shop.gives.{item.gives.kind}",
        "days": item.gives.days or 0,
        **_wallet_params(state),
        "after": spendable(state) - price,
        "missing": max(0, price - spendable(state)),
        "vip_line_key": _vip_line(state, item),
        "stock_line_key": "shop.line.limited" if item.stock is not None else "shop.line.none",
        "stock": item.stock or 0,
        "per_user": item.per_user or 0,
    }
    rows = [] if why else [[Button(label="", action=f"{BUY}{item.code}", text=f"💋 {price} · ✅")]]
    if why == "funds":
        rows.append([Button(label="menu.missions", action="missions")])
    rows.append([Button(label="shop.back", action=OPEN)])
    return Screen(key=f"shop.item.{why or 'confirm'}", params=params, buttons=rows)


def _vip_line(state: JourneyState, item: Item) -> str:
    if item.vip_price is None:
        return "shop.line.none"
    return "shop.line.vip_price_yours" if state.vip else "shop.line.vip_price"


def _wallet_params(state: JourneyState) -> dict[str, str | int]:
    return {"balance": state.besitos, "spendable": spendable(state), "reserved": state.wallet.reserved}


def buy(turn: Turn, item: Item, claim: StockClaimed | None) -> Screen:
    """Pay for ``item`` and hand it over. A limited item comes with its claim: sold out, nothing is charged."""
    state = turn.state
    why = refusal(state, item, turn.now)
    if why is not None:
        if claim is not None and claim.claimed:  # claimed for nothing: back on the shelf
            turn.effects.append(ReleaseStock(claim_id=claim.claim_id))
        return item_screen(state, turn.content, item, turn.now, why)
    if item.stock is not None and (claim is None or not claim.claimed):
        return Screen(key="shop.sold_out", params={"name": item.name.get(state.language)},
                      buttons=[[Button(label="shop.back", action=OPEN)]])  # fmt: skip
    price = item.price_for(state.vip)
    purchase = new_purchase(turn, item.code, "shop", price, claim.claim_id if claim else "")
    spend(turn, amount=price, action="shop_purchase", key=f"shop:{purchase.id}",
          context={"item": item.code, "purchase": purchase.id})  # fmt: skip
    purchase = hand_over(turn, item, purchase)
    return opened_screen(state, turn.content, purchase, bought_now=True)


def new_purchase(turn: Turn, code: str, source: PurchaseSource, price: int, claim: str = "") -> Purchase:
    """A new backpack entry for ``code`` (delivered unless ``hand_over`` says otherwise)."""
    wallet = turn.state.wallet
    wallet.seq += 1
    purchase = Purchase(id=f"p{wallet.seq}", item=code, source=source, price=price, at=turn.now, claim_id=claim)
    wallet.purchases = [*wallet.purchases, purchase]
    return purchase


def hand_over(turn: Turn, item: Item, purchase: Purchase) -> Purchase:
    """What the item gives becomes the user's: a story unlock opens, VIP days add, a message waits for its hour, a
    creator's reward waits for the admins. Returns the backpack entry as it now stands."""
    state, gives = turn.state, item.gives
    if gives.kind == "story":
        state.wallet.unlocked = sorted(set(state.wallet.unlocked) | set(gives.fragments))
    elif gives.kind == "vip_days":
        assert gives.days is not None
        plan = state.subscription.plan or (turn.content.vip.plans[0].code if turn.content.vip.plans else "shop")
        subscription.grant(turn, Charge(charge_id=f"{subscription.SHOP_PREFIX}{purchase.id}", payload=item.code,
                                        plan=plan, stars=0, days=gives.days, paid_at=turn.now))  # fmt: skip
    elif gives.kind == "message" and gives.at_hour is not None:
        purchase = _set(state, purchase, status="scheduled",
                        deliver_at=next_local_time(turn.now, turn.content.calendar.timezone, gives.at_hour))  # fmt: skip
    elif gives.kind == "reward":
        purchase = _set(state, purchase, status="waiting")
    # Postgres gets the entry as it now stands (an order waiting, a message scheduled), not as it was made.
    record(turn, purchase)
    return purchase


def _set(state: JourneyState, purchase: Purchase, **changes: object) -> Purchase:
    """Change a backpack entry (entries are replaced, never edited in place: the state is copied per turn)."""
    changed = purchase.model_copy(update=changes)
    state.wallet.purchases = [changed if p.id == purchase.id else p for p in state.wallet.purchases]
    return changed


def record(turn: Turn, purchase: Purchase) -> None:
    item = turn.content.shop.by_code.get(purchase.item)
    turn.effects.append(RecordPurchase(user_id=turn.state.user_id, purchase_id=f"journey-{turn.state.user_id}:{purchase.id}",
                                       item=purchase.item, item_kind=item.gives.kind if item else "",
                                       source=purchase.source, price=purchase.price, status=purchase.status,
                                       bought_at=purchase.at, changed_at=turn.now))  # fmt: skip


def _purchase(state: JourneyState, purchase_id: str) -> Purchase | None:
    return next((p for p in state.wallet.purchases if p.id == purchase_id), None)


def opened_screen(state: JourneyState, content: Content, purchase: Purchase, *, bought_now: bool = False) -> Screen:
    """A backpack entry opened: media sent again, Diana's message shown again, or where the thing stands."""
    language = state.language
    item = content.shop.by_code.get(purchase.item)
    back = [[Button(label="shop.backpack", action=BACKPACK)], [Button(label="shop.back", action=OPEN)]]
    if item is None:  # gone from the catalogue since: the entry stays, its contents with it
        return Screen(key="shop.opened.gone", params={"date": _date(purchase.at, content)}, buttons=back)
    gives = item.gives
    params: dict[str, str | int] = {"name": item.name.get(language), "date": _date(purchase.at, content),
                                    "price": purchase.price, "days": gives.days or 0,
                                    "text": gives.text.get(language) if gives.text else "",
                                    "bought_key": "shop.opened.bought_now" if bought_now else "shop.line.none"}  # fmt: skip
    media = []
    if purchase.status == "refunded":
        key = "shop.opened.refunded"
    elif purchase.status == "scheduled":
        key = "shop.opened.scheduled"
        params["at"] = local_moment(purchase.deliver_at or purchase.at, content.calendar.timezone)
    elif purchase.status == "waiting":
        key = "shop.opened.waiting"
    else:
        key = f"shop.opened.{gives.kind}"
        media = screen_media(content, gives.media, language) if gives.kind in ("media", "message") else []
    if gives.kind == "story" and purchase.status != "refunded":
        back.insert(0, [Button(label="menu.story", action=STORY)])
    return Screen(key=key, params=params, buttons=back, media=media)


def backpack_screen(state: JourneyState, content: Content) -> Screen:
    """🎒 Everything bought or given, newest first, with dates; each opens again."""
    language = state.language
    shown = list(reversed(state.wallet.purchases))[:BACKPACK_SHOWN]
    rows = []
    for purchase in shown:
        item = content.shop.by_code.get(purchase.item)
        name = item.name.get(language) if item else purchase.item
        mark = {"refunded": "↩️", "scheduled": "⏳", "waiting": "⏳"}.get(purchase.status, _SOURCE_MARK[purchase.source])
        rows.append([Button(label="", action=f"{REOPEN}{purchase.id}",
                            text=f"{mark} {name} · {_date(purchase.at, content)}")])  # fmt: skip
    rows.append([Button(label="shop.back", action=OPEN)])
    key = "shop.backpack.list" if shown else "shop.backpack.empty"
    return Screen(key=key, params={"count": len(state.wallet.purchases), "shown": len(shown)}, buttons=rows)


_SOURCE_MARK: Final[dict[str, str]] = {"shop": "🛍️", "auction": "🔨", "mission": "🎁", "achievement": "🎁",
                                       "support": "🎁"}  # fmt: skip


def _date(moment: datetime, content: Content) -> str:
    return local_moment(moment, content.calendar.timezone).split(" ")[0]


def play(turn: Turn, action: str, claim: StockClaimed | None) -> Screen:
    """Apply a shop button (checked) and return the screen to show."""
    state, content = turn.state, turn.content
    if action == OPEN:
        return shop_screen(state, content, turn.now)
    if action == BACKPACK:
        return backpack_screen(state, content)
    if action.startswith(REOPEN):
        purchase = _purchase(state, action.removeprefix(REOPEN))
        assert purchase is not None
        return opened_screen(state, content, purchase)
    if action.startswith(ITEM):
        return item_screen(state, content, content.shop.by_code[action.removeprefix(ITEM)], turn.now)
    return buy(turn, content.shop.by_code[action.removeprefix(BUY)], claim)


def give(turn: Turn, item: Item, source: PurchaseSource) -> Purchase:
    """An item given (a mission's or achievement's reward, or staff's gift): free, into the backpack, announced."""
    purchase = hand_over(turn, item, new_purchase(turn, item.code, source, 0))
    turn.notices.append(Notice(key="notice.item_given", params={"name": item.name.get(turn.state.language)}))
    return purchase


def settle(turn: Turn) -> None:
    """Missions and achievements the state now meets, and the items they give (which may complete more)."""
    for _ in range(MAX_GIFTS):
        settle_goals(turn)
        if not turn.gifts:
            return
        gifts, turn.gifts = turn.gifts, []
        for code, source in gifts:
            item = turn.content.shop.by_code.get(code)
            if item is not None:  # checked by the content; a later version may have dropped it
                give(turn, item, "mission" if source == "mission" else "achievement")


def deliver_due(turn: Turn) -> None:
    """Messages bought for an hour that has come: Diana sends them now (once each)."""
    state = turn.state
    for purchase in list(state.wallet.purchases):
        if purchase.status != "scheduled" or purchase.deliver_at is None or purchase.deliver_at > turn.now:
            continue
        delivered = _set(state, purchase, status="delivered")
        record(turn, delivered)
        screen = opened_screen(state, turn.content, delivered)
        screen = screen.model_copy(update={"key": "notify.shop.message"})
        turn.effects.append(notification(state, f"shop-message:{purchase.id}", screen))


def next_delivery(state: JourneyState) -> datetime | None:
    return min((p.deliver_at for p in state.wallet.purchases if p.status == "scheduled" and p.deliver_at is not None),
               default=None)  # fmt: skip


def deliver_order(turn: Turn, purchase_id: str) -> str:
    """The admins fulfilled a creator's reward: the user is told; it shows as delivered."""
    state = turn.state
    purchase = _purchase(state, purchase_id)
    if purchase is None or purchase.status != "waiting":
        raise ShopRejection(JourneyError.SUPPORT_REFUSED, f"no order {purchase_id!r} waiting for this user")
    delivered = _set(state, purchase, status="delivered")
    record(turn, delivered)
    item = turn.content.shop.by_code.get(purchase.item)
    name = item.name.get(state.language) if item else purchase.item
    screen = Screen(key="notify.shop.delivered", params={"name": name},
                    buttons=[[Button(label="shop.backpack", action=BACKPACK)]])  # fmt: skip
    turn.effects.append(notification(state, f"notify:{turn.cause}", screen))
    return f"order {purchase_id} ({purchase.item}) marked delivered"


def refund(turn: Turn, purchase_id: str) -> str:
    """Staff gives a purchase's besitos back (a ledger row); a limited unit goes back on the shelf, a story unlock
    closes again. VIP days are not refunded this way (they would have to be taken back): refused."""
    state = turn.state
    purchase = _purchase(state, purchase_id)
    if purchase is None or purchase.status == "refunded":
        raise ShopRejection(JourneyError.SUPPORT_REFUSED, f"no refundable purchase {purchase_id!r} for this user")
    item = turn.content.shop.by_code.get(purchase.item)
    if any(c.charge_id == f"{subscription.SHOP_PREFIX}{purchase.id}" for c in state.subscription.charges):
        raise ShopRejection(JourneyError.SUPPORT_REFUSED, "VIP days given cannot be refunded in besitos")
    refunded = _set(state, purchase, status="refunded", deliver_at=None)
    if purchase.price:
        give_back(turn, amount=purchase.price, action="shop_refund", key=f"shop-refund:{purchase.id}",
                  context={"item": purchase.item, "purchase": purchase.id})  # fmt: skip
    if purchase.claim_id:
        turn.effects.append(ReleaseStock(claim_id=purchase.claim_id))
    if item is not None and item.gives.kind == "story":
        catalogue = turn.content.shop.by_code
        still = {fragment for p in state.wallet.purchases if p.status != "refunded" and p.item in catalogue
                 for fragment in catalogue[p.item].gives.fragments}  # fmt: skip
        state.wallet.unlocked = sorted((set(state.wallet.unlocked) - set(item.gives.fragments)) | still)
    record(turn, refunded)
    name = item.name.get(state.language) if item else purchase.item
    screen = Screen(key="notify.shop.refunded", params={"name": name, "amount": purchase.price,
                                                        "balance": state.besitos},
                    buttons=[[Button(label="shop.backpack", action=BACKPACK)]])  # fmt: skip
    turn.effects.append(notification(state, f"notify:{turn.cause}", screen))
    return f"purchase {purchase_id} ({purchase.item}) refunded: {purchase.price} besitos back"
