"""Message contracts between the bot, the journey workflow and its activities.

Everything that crosses a process boundary is one of these pydantic models, so the
bot, the worker, the tests and the Replayer agree on the shape of every payload.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import BaseModel, Field

from workflows.referral_contracts import Referral, SaveReferralCode, TellReferrer

# Telegram's own limit for a message text; longer input cannot be a real message.
MAX_TEXT_LENGTH: Final = 4096
# Telegram's limit for a caption (the text under a photo, a video or a voice note).
MAX_CAPTION_LENGTH: Final = 1024

Language = Literal["es", "en"]
# What Telegram sends as media (a photo's sizes are one photo).
MediaKind = Literal["photo", "video", "animation", "voice", "audio", "document"]
MEDIA_KINDS: Final[tuple[MediaKind, ...]] = get_args(MediaKind)
# lapsed: the introduction was left unfinished for too long; the journey ended (a later /start begins anew).
Stage = Literal["new", "onboarding", "active", "erased", "lapsed"]
# start/menu/button/text come from the private chat; reaction (a button under a community channel
# post, ``action`` = "<chat id>:<message id>") and joined/left (a community channel, ``action`` = its
# chat id) come from the community channels. pre_checkout and payment come from Telegram Stars
# (``payment`` holds the details); refunded is Telegram's word that a charge was given back (here or outside the
# bot); redeem carries a VIP pass token in ``action``; vip_join is a request to join the VIP channel (``action`` =
# its chat id).
RequestKind = Literal["start", "menu", "button", "text", "reaction", "joined", "left", "pre_checkout", "payment",
                      "refunded", "redeem", "vip_join", "paid_media"]  # fmt: skip
# A paid media purchase's payload (Telegram's limit; the action of a "paid_media" request).
MAX_PAID_MEDIA_PAYLOAD: Final = 128
SupportAction = Literal["refund", "grant", "restart_story", "ban", "unban", "erase", "give_item", "deliver_order",
                        "refund_purchase", "import_vip"]  # fmt: skip
# Where a backpack's thing came from.
PurchaseSource = Literal["shop", "auction", "mission", "achievement", "support"]
# delivered: given; scheduled: a message waiting for its hour; waiting: a reward for the admins to fulfil;
# refunded: its besitos went back (and a limited stock's unit with them).
PurchaseStatus = Literal["delivered", "scheduled", "waiting", "refunded"]
WalletAction = Literal["reserve", "release", "capture"]
SubscriptionStatus = Literal["none", "active", "grace", "expired", "refunded"]


LEADERBOARD_ALL_TIME: Final = "diana:leaderboard:all"
LEADERBOARD_NAMES: Final = "diana:leaderboard:names"


def weekly_leaderboard(week: str) -> str:
    """The Redis sorted set of one ISO week's besitos (e.g. ``2026-W48``)."""
    return f"diana:leaderboard:week:{week}"


class TelegramProfile(BaseModel):
    """Who the user is on Telegram, as the bot saw it on this update."""

    user_id: int
    first_name: str = ""
    username: str | None = None
    language_code: str | None = None


class PaymentDetails(BaseModel):
    """A pre-checkout query or a successful payment, as Telegram reported it."""

    payload: str = Field(min_length=1, max_length=128)
    currency: str
    total_amount: int
    # Only on a successful payment: Telegram's id for the charge (the key a payment is recorded once by).
    charge_id: str = ""
    provider_charge_id: str = ""
    # A Stars subscription's charge (the first one, or a renewal Telegram made on its own) and the end of the
    # period it paid for.
    is_recurring: bool = False
    is_first_recurring: bool = False
    subscription_expiration_date: datetime | None = None


class JourneyRequest(BaseModel):
    """One Telegram update, translated by the bot into something the journey understands."""

    update_id: int
    # A digest of the whole update: a redelivery is identical, while an update id that a Bot API
    # server hands out again (after a restart, or Telegram's random restart after a week) is not.
    fingerprint: str = ""
    user_id: int
    kind: RequestKind
    action: str = ""
    # The screen a pressed button belongs to; a button of an older screen is stale.
    screen: int = 0
    text: str = ""
    profile: TelegramProfile
    # The content version the bot saw active; the journey never goes back to an older one.
    content_version: int = 0
    payment: PaymentDetails | None = None

    @property
    def delivery(self) -> str:
        """What makes this delivery unique: the Temporal update id and the de-duplication key."""
        return f"{self.update_id}-{self.fingerprint}" if self.fingerprint else str(self.update_id)


class Notice(BaseModel):
    """A line shown above a screen: an award, an unlocked achievement, a level up."""

    key: str
    params: dict[str, str | int] = Field(default_factory=dict)


class Button(BaseModel):
    """``label`` is a locale key; ``text``, when set, is already in the user's language (content)."""

    label: str
    action: str
    text: str | None = None


class ScreenMedia(BaseModel):
    """A media item shown with a screen: the content's key, and what the bot needs to send it (its kind, the file
    shipped with the content when there is one, its caption in the user's language)."""

    key: str
    kind: MediaKind
    file: str | None = None
    caption: str | None = None
    # Blurred until tapped (Telegram's spoiler): a VIP teaser.
    spoiler: bool = False


class Screen(BaseModel):
    """What the user sees: a text (by locale key), notices above it and buttons below; media above the text."""

    key: str
    params: dict[str, str | int] = Field(default_factory=dict)
    notices: list[Notice] = Field(default_factory=list)
    buttons: list[list[Button]] = Field(default_factory=list)
    seq: int = 0
    # One item, or an album of 2 to 10 (content keeps to Telegram's rules).
    media: list[ScreenMedia] = Field(default_factory=list)


class JourneyReply(BaseModel):
    screen: Screen
    language: Language
    # True when the update had already been applied (a redelivery); nothing changed.
    duplicate: bool = False
    # For requests from a channel (reactions): a short answer shown as a toast, by locale key.
    toast: Notice | None = None


# Effects: side effects the rules ask for; the workflow runs each one as an activity.


class SaveProfile(BaseModel):
    kind: Literal["save_profile"] = "save_profile"
    profile: TelegramProfile
    stage: Stage
    language: Language
    seen_at: datetime
    notifications: bool = True
    login_streak: int = 0
    longest_streak: int = 0
    banned: bool = False


class AwardBesitos(BaseModel):
    kind: Literal["award_besitos"] = "award_besitos"
    user_id: int
    idempotency_key: str
    action: str
    amount: int
    balance_after: int
    context: dict[str, str | int] = Field(default_factory=dict)
    awarded_at: datetime


class UnlockAchievement(BaseModel):
    kind: Literal["unlock_achievement"] = "unlock_achievement"
    user_id: int
    code: str
    unlocked_at: datetime


class CompleteMission(BaseModel):
    kind: Literal["complete_mission"] = "complete_mission"
    user_id: int
    code: str
    completed_at: datetime


class SaveStoryProgress(BaseModel):
    """Where the user stands in the story; ``seq`` orders saves so an older one never wins."""

    kind: Literal["save_story_progress"] = "save_story_progress"
    user_id: int
    seq: int
    content_version: int
    fragment_id: str | None
    playthrough: int
    relationship: int
    flags: list[str]
    completed: list[str]
    endings: list[str]
    saved_at: datetime


class RecordDecision(BaseModel):
    kind: Literal["record_decision"] = "record_decision"
    user_id: int
    idempotency_key: str
    playthrough: int
    fragment_id: str
    choice_id: str
    decided_at: datetime


class RecordReaction(BaseModel):
    kind: Literal["record_reaction"] = "record_reaction"
    user_id: int
    chat_id: int
    message_id: int
    rewarded: bool
    reacted_at: datetime


class UpdateLeaderboard(BaseModel):
    """Absolute totals (not increments), so writing them twice changes nothing."""

    kind: Literal["update_leaderboard"] = "update_leaderboard"
    user_id: int
    name: str
    lifetime_besitos: int
    week: str
    week_besitos: int
    # Erasure: take the user off every board instead.
    remove: bool = False


class Notify(BaseModel):
    """A message the journey sends on its own (not as the answer to a button)."""

    kind: Literal["notify"] = "notify"
    user_id: int
    idempotency_key: str
    language: Language
    screen: Screen
    # Sent with the bulk messages (the daily reminders' wave, paced with broadcasts), not as a reply would be.
    bulk: bool = False


class ExportData(BaseModel):
    kind: Literal["export_data"] = "export_data"
    user_id: int
    idempotency_key: str
    language: Language
    journey: dict[str, object]
    requested_at: datetime


class EraseData(BaseModel):
    """Forget the user; who asked (the user, or staff) and why go into the audit log with it."""

    kind: Literal["erase_data"] = "erase_data"
    user_id: int
    requested_at: datetime
    actor: str
    reason: str


class ForgetJourney(BaseModel):
    """An erased journey to delete from Temporal: its chain ends with ``run_id``; ``key_ids``: every key it had."""

    workflow_id: str
    run_id: str
    key_ids: list[str]


class LeftoverKeys(BaseModel):
    """Keys of a deleted journey's workflow id made before it closed, retired; kept while a new journey uses them."""

    workflow_id: str
    made_before: datetime | None = None
    deleted_runs: list[str] = Field(default_factory=list)
    key_ids: list[str] = Field(default_factory=list)


class SendInvoice(BaseModel):
    """A Stars invoice for one VIP plan; ``payload`` names this very invoice (stale once paid or replaced)."""

    kind: Literal["send_invoice"] = "send_invoice"
    user_id: int
    idempotency_key: str
    language: Language
    payload: str
    plan: str
    title: str
    description: str
    stars: int
    # Seconds between charges of a Stars subscription (Telegram allows 2592000 only); 0 for a one-time purchase.
    subscription_period: int = 0


class EditStarSubscription(BaseModel):
    """Cancel (or resume) the renewals of the user's Stars subscription at Telegram (editUserStarSubscription)."""

    kind: Literal["edit_star_subscription"] = "edit_star_subscription"
    user_id: int
    idempotency_key: str
    charge_id: str  # the subscription's first charge
    canceled: bool


class RecordPayment(BaseModel):
    kind: Literal["record_payment"] = "record_payment"
    user_id: int
    charge_id: str  # telegram_payment_charge_id, or "pass:<token>" for an admin's VIP pass
    provider_charge_id: str
    payload: str
    plan: str
    stars: int
    currency: str
    paid_at: datetime


class SaveSubscription(BaseModel):
    """The subscription as the journey holds it; ``seq`` orders saves so an older one never wins."""

    kind: Literal["save_subscription"] = "save_subscription"
    user_id: int
    seq: int
    plan: str | None
    status: SubscriptionStatus
    started_at: datetime | None
    expires_at: datetime | None
    saved_at: datetime


class RefundPayment(BaseModel):
    kind: Literal["refund_payment"] = "refund_payment"
    user_id: int
    charge_id: str
    actor: str
    reason: str
    refunded_at: datetime


class OpenVipChannel(BaseModel):
    """Let a paid user into the VIP channel: lift any old removal, send a single-use invite link."""

    kind: Literal["open_vip_channel"] = "open_vip_channel"
    user_id: int
    idempotency_key: str
    language: Language


class CloseVipChannel(BaseModel):
    """VIP ended: out of the VIP channel (ban, then unban so a later purchase can bring them back)."""

    kind: Literal["close_vip_channel"] = "close_vip_channel"
    user_id: int
    reason: str


class RecordPurchase(BaseModel):
    """A backpack entry as Postgres keeps it (for the admins' orders and figures); written again on every change."""

    kind: Literal["record_purchase"] = "record_purchase"
    user_id: int
    purchase_id: str  # "journey-<user>:<purchase id>"
    item: str
    item_kind: str
    source: PurchaseSource
    price: int
    status: PurchaseStatus
    bought_at: datetime
    changed_at: datetime


class ReleaseStock(BaseModel):
    """A limited item's unit goes back on the shelf (its purchase refunded, or its turn refused after the claim)."""

    kind: Literal["release_stock"] = "release_stock"
    claim_id: str


# What one projection activity writes for a turn: rows for Postgres and the leaderboard totals.
_PROJECTION_EFFECT = (
    SaveProfile | AwardBesitos | UnlockAchievement | CompleteMission | SaveStoryProgress | RecordDecision
    | RecordReaction | UpdateLeaderboard | RecordPurchase | ReleaseStock
)  # fmt: skip
PROJECTION_EFFECTS: Final = get_args(_PROJECTION_EFFECT)
ProjectionEffect = Annotated[_PROJECTION_EFFECT, Field(discriminator="kind")]
Effect = Annotated[
    _PROJECTION_EFFECT
    | Notify
    | ExportData
    | EraseData
    | SendInvoice
    | RecordPayment
    | SaveSubscription
    | RefundPayment
    | OpenVipChannel
    | CloseVipChannel
    | TellReferrer
    | SaveReferralCode
    | EditStarSubscription,
    Field(discriminator="kind"),
]
# What Telegram carries out (messages, invoices, refunds, the VIP channel's door): each waits a bounded time.
TELEGRAM_EFFECTS: Final = (Notify, ExportData, SendInvoice, RefundPayment, OpenVipChannel, CloseVipChannel,
                           EditStarSubscription)  # fmt: skip


class ParkedEffect(BaseModel):
    """An effect given up on (refused for good, or out of patience): kept with why and when, for support."""

    effect: Effect
    reason: str
    parked_at: datetime


class ProjectionBatch(BaseModel):
    """A turn's projection, written in one Postgres transaction, in order; leaderboard totals after it."""

    user_id: int
    effects: list[ProjectionEffect]


class ProjectionOutcome(BaseModel):
    """Which of the batch's effects Postgres refused for good (by position): the journey parks them.

    It also names the ledger rows and decisions the batch asked for: a local activity's input is not kept in
    the history but its result is, and support's reset repair reads them from there (``tools.support``).
    """

    refused: list[int] = Field(default_factory=list)
    awards: dict[str, int] = Field(default_factory=dict)  # ledger idempotency key -> amount
    decisions: list[str] = Field(default_factory=list)  # decision idempotency keys


class StoryProgress(BaseModel):
    """The user's place in Diana's story and what their choices left behind."""

    fragment_id: str | None = None  # None: the story has not begun
    playthrough: int = 1
    relationship: int = 0
    flags: list[str] = Field(default_factory=list)
    # Across playthroughs: fragments completed, choices ever made, endings reached.
    completed: list[str] = Field(default_factory=list)
    choices_made: list[str] = Field(default_factory=list)
    endings: list[str] = Field(default_factory=list)
    decisions: int = 0
    recent_decisions: list[datetime] = Field(default_factory=list)  # the last few, for Diana's mood
    saves: int = 0


class Devotion(BaseModel):
    """Daily visits by calendar day in the community's time zone."""

    last_day: date | None = None
    streak: int = 0
    longest: int = 0


class Community(BaseModel):
    reacted_posts: list[str] = Field(default_factory=list)  # "<chat id>:<message id>"
    reactions: int = 0
    rewarded_day: date | None = None
    rewarded_today: int = 0
    channels: list[int] = Field(default_factory=list)  # community channels joined (ever)


class Preferences(BaseModel):
    notifications: bool = True
    language_chosen: bool = False  # once chosen in Configuración, Telegram's language no longer decides


class Leaderboard(BaseModel):
    week: str = ""  # ISO week, e.g. "2026-W48"
    week_besitos: int = 0


class Invoice(BaseModel):
    """An invoice sent and not yet paid: what its payload buys, fixed when it was sent."""

    payload: str
    plan: str
    stars: int
    days: int
    issued_at: datetime


class Charge(BaseModel):
    """A payment (or a redeemed VIP pass) that granted VIP days."""

    charge_id: str
    payload: str
    plan: str
    stars: int
    days: int
    paid_at: datetime
    refunded_at: datetime | None = None


class Subscription(BaseModel):
    status: SubscriptionStatus = "none"
    plan: str | None = None
    started_at: datetime | None = None
    expires_at: datetime | None = None
    invoices: list[Invoice] = Field(default_factory=list)
    charges: list[Charge] = Field(default_factory=list)
    # Expiry reminders already sent, "<expiry>:<days before>": a renewal moves the expiry, and with it the keys.
    reminded: list[str] = Field(default_factory=list)
    saves: int = 0
    # When the last fresh link to the VIP channel was asked for.
    link_sent_at: datetime | None = None
    # A Stars subscription: Telegram charges every 30 days on its own until it is canceled (here or by the user).
    renews: bool = False
    renewal_charge_id: str = ""  # its first charge: the one editUserStarSubscription names
    canceled: bool = False


class Purchase(BaseModel):
    """Something in the user's backpack: bought in the shop, won at an auction, or given."""

    id: str  # "p<n>", this journey's own numbering
    item: str
    source: PurchaseSource = "shop"
    price: int = 0  # besitos paid (0 when given)
    at: datetime
    status: PurchaseStatus = "delivered"
    deliver_at: datetime | None = None  # a scheduled message's moment
    # The limited stock unit it holds ("" for unlimited items).
    claim_id: str = ""


class Reserve(BaseModel):
    """Besitos held by a leading auction bid: not spendable until the auction releases or captures them."""

    auction: str
    bid: str
    amount: int
    # The same bidder's earlier hold in this auction this one replaced (a raise): back in force if the raise fails.
    replaced: Reserve | None = None


class Wallet(BaseModel):
    spent: int = 0  # besitos spent in total (a refund gives back, and lowers this)
    purchases: list[Purchase] = Field(default_factory=list)
    reserves: list[Reserve] = Field(default_factory=list)
    # Priced story paid: "choice:<id>" / "fragment:<id>", with ":<playthrough>" when paid on every playthrough.
    paid_story: list[str] = Field(default_factory=list)
    # Fragments the shop opened to this user (their level, besitos and flag conditions waived).
    unlocked: list[str] = Field(default_factory=list)
    # Auctions settled in this journey (won or lost), so a late message about them changes nothing.
    settled_auctions: list[str] = Field(default_factory=list)
    # Bids let go of before their reserve arrived ("<auction>:<bid>", the latest): a reserve arriving late is refused.
    released_bids: list[str] = Field(default_factory=list)
    # What the latest auction requests were answered ("<request id>" -> refusal, "" when done): a request repeated
    # after the journey continued as new gets the same answer.
    answers: dict[str, str] = Field(default_factory=dict)
    seq: int = 0

    @property
    def reserved(self) -> int:
        return sum(reserve.amount for reserve in self.reserves)


class JourneyState(BaseModel):
    """All of one user's journey. The workflow's state is the truth; Postgres projects it."""

    user_id: int
    stage: Stage = "new"
    onboarding_step: int = 0
    profile: TelegramProfile | None = None
    language: Language = "es"
    besitos: int = 0  # the balance: the ledger's sum (reserved besitos included)
    lifetime_besitos: int = 0  # earned in total: levels follow it, so spending never lowers a level
    wallet: Wallet = Field(default_factory=Wallet)
    achievements: list[str] = Field(default_factory=list)
    missions: list[str] = Field(default_factory=list)
    banned: bool = False  # by staff: every request is refused (a payment still applies) until unbanned
    vip: bool = False  # VIP perks on: the subscription is active or in its grace period
    subscription: Subscription = Field(default_factory=Subscription)
    # Paid media bought for Stars, by the payload of what was sold (each once: Telegram sells it once).
    paid_media: list[str] = Field(default_factory=list)
    story: StoryProgress = Field(default_factory=StoryProgress)
    referral: Referral = Field(default_factory=Referral)
    devotion: Devotion = Field(default_factory=Devotion)
    community: Community = Field(default_factory=Community)
    preferences: Preferences = Field(default_factory=Preferences)
    leaderboard: Leaderboard = Field(default_factory=Leaderboard)
    content_version: int = 0
    # Calendar day of the last daily reminder sent.
    reminded_on: date | None = None
    # "Blocked" answers in a row to messages Diana sent on her own; the user writing again resets it.
    blocked_answers: int = 0
    screen: Screen | None = None
    screen_seq: int = 0
    joined_at: datetime | None = None
    # When this journey was opened (its first run began).
    opened_at: datetime | None = None
    last_seen: datetime | None = None
    # Deliveries (update id + fingerprint) already applied, bounded, carried across
    # continue-as-new so a redelivered update is applied once even in a later run.
    recent_deliveries: list[str] = Field(default_factory=list)
    # Effects decided but not yet carried out; carried across continue-as-new.
    pending_effects: list[Effect] = Field(default_factory=list)
    # Effects given up on (Postgres refused the row, Telegram refused for good, no answer in time), newest last,
    # kept for support; at most ``MAX_PARKED``, the older ones only counted.
    parked_effects: list[ParkedEffect] = Field(default_factory=list)
    parked_dropped: int = 0

    def exported(self) -> dict[str, Any]:
        """What the user's own export shows of the journey: who they are and what they did, not its machinery."""
        # The tokens of the newcomers they invited are machinery (de-duplication): left out.
        hidden: dict[str, Any] = dict.fromkeys(("pending_effects", "parked_effects", "parked_dropped",
                                                "recent_deliveries", "screen"), True)  # fmt: skip
        return self.model_dump(mode="json", exclude={**hidden, "referral": {"applied"}})


class PassRedemption(BaseModel):
    """What Postgres said about a VIP pass token (redeemed atomically there)."""

    token: str
    plan: str | None = None  # the plan granted; None when refused
    refusal: Literal["unknown", "used", "expired"] | None = None


class RedeemPass(BaseModel):
    token: str
    user_id: int
    at: datetime  # the journey's time: the pass must not have expired by then


class SupportRequest(BaseModel):
    """A change to a journey made by staff (an admin in Telegram, support with the CLI), applied once."""

    request_id: str = Field(min_length=1, max_length=128)
    user_id: int
    actor: str = Field(min_length=1, max_length=128)
    action: SupportAction
    charge_id: str = ""  # refund: the Stars payment
    amount: int = 0  # grant: besitos given, or (negative) taken back
    item: str = ""  # give_item: the shop item's code
    purchase: str = ""  # deliver_order, refund_purchase: the backpack entry ("p<n>")
    until: datetime | None = None  # import_vip: VIP until then (the existing community brought over)
    plan: str = ""  # import_vip: the plan to show, optional
    # The active content version when sent: a journey that never read content (started by the change) plays it.
    content_version: int = 0
    reason: str = Field(min_length=3, max_length=500)


class SupportReply(BaseModel):
    ok: bool
    message: str
    duplicate: bool = False


class StockClaim(BaseModel):
    """Claim one unit of a limited item for a purchase (atomically across all users), once per ``claim_id``."""

    claim_id: str
    item: str
    stock: int
    user_id: int
    at: datetime


class StockClaimed(BaseModel):
    claim_id: str
    claimed: bool  # False: sold out


class WalletRequest(BaseModel):
    """An auction asks a bidder's journey to hold, let go of or take besitos; applied once per ``request_id``.

    reserve: hold ``amount`` for ``bid`` (a raise replaces this auction's earlier reserve); release: let go of the reserve
    held for ``bid`` (``outbid`` tells the user why); capture: the auction ended and ``bid`` won: the reserve is spent and
    ``item`` goes into the backpack.
    """

    request_id: str = Field(min_length=1, max_length=128)
    user_id: int
    action: WalletAction
    auction: str = Field(min_length=1, max_length=64)
    bid: str = Field(min_length=1, max_length=64)
    amount: int = Field(default=0, ge=0)
    item: str = ""
    title: str = ""  # what the auction sells, as the notices name it
    vip_only: bool = False
    outbid: bool = False
    # release: this bid never led (the auction gave up waiting for its reserve): the hold it replaced comes back.
    failed: bool = False


class WalletReply(BaseModel):
    ok: bool
    # reserve refused: "funds" (not enough spendable besitos), "vip" (VIP only), "closed" (journey not active/banned)
    refusal: str | None = None
    spendable: int = 0
    duplicate: bool = False


class JourneyInput(BaseModel):
    user_id: int
    # The state a new run carries on from (continue-as-new); None for a new journey.
    state: JourneyState | None = None


class MessageRefusal:
    """``ApplicationError.type`` of a message Telegram refused for good (the journey counts the blocked ones)."""

    BLOCKED: Final = "BotBlocked"  # the user blocked the bot (403)
    UNDELIVERABLE: Final = "Undeliverable"  # no such chat, a bad request (400)


class JourneyError:
    """``ApplicationError.type`` names the bot matches on when the journey rejects an update."""

    UNKNOWN_ACTION: Final = "UnknownAction"
    STALE_SCREEN: Final = "StaleScreen"
    FOREIGN_USER: Final = "ForeignUser"
    NOT_STARTED: Final = "JourneyNotStarted"
    INVALID_INPUT: Final = "InvalidInput"
    CONTENT_UNAVAILABLE: Final = "ContentUnavailable"
    # The journey could not apply the update (a fault, not the user's): nothing changed; the bot keeps it for support.
    FAILED: Final = "JourneyFailed"
    ERASED: Final = "JourneyErased"
    # The journey ended with the introduction unfinished (``rules.lapse_due``): /start begins anew.
    LAPSED: Final = "JourneyLapsed"
    # Telegram Stars: the pre-checkout is refused with the matching text.
    INVOICE_STALE: Final = "InvoiceStale"
    INVOICE_FOREIGN: Final = "InvoiceForeign"
    PLAN_GONE: Final = "PlanGone"
    ALREADY_PAID: Final = "AlreadyPaid"
    SUPPORT_REFUSED: Final = "SupportRefused"
    BANNED: Final = "Banned"
