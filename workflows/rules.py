"""The journey's rules: pure functions from (state, request, now) to (state, effects, screen).

They never read the clock, randomness or I/O; the workflow passes ``now`` in and carries
out the returned effects as activities. Every screen the user sees is decided here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from workflows import moods, referrals, shop, story, subscription
from workflows.content import Community, Content
from workflows.contracts import (
    MAX_PAID_MEDIA_PAYLOAD,
    MAX_TEXT_LENGTH,
    Button,
    Effect,
    EraseData,
    ExportData,
    JourneyError,
    JourneyRequest,
    JourneyState,
    Language,
    Notice,
    PassRedemption,
    RecordReaction,
    SaveProfile,
    Screen,
    StockClaimed,
    UpdateLeaderboard,
)
from workflows.days import local_day, next_local_time, start_of_day
from workflows.economy import level_progress, progress_bar
from workflows.progress import (
    Turn,
    goals_screen,
    join_channel,
    leaderboard_effect,
    notification,
    react,
    register_visit,
    spendable,
)
from workflows.referral_contracts import Invitation
from workflows.shop import settle

ONBOARDING_SCREENS: Final = 3
RECENT_UPDATE_WINDOW: Final = 256

MENU_LABELS: Final[dict[str, str]] = {action: f"menu.{action}" for action in moods.SEED_ORDER}
SETTINGS_ACTIONS: Final = frozenset({"notifications_toggle", "language.es", "language.en", "export", "erase",
                                     "erase_confirm"})  # fmt: skip
# Buttons the journey answers (story choices are "pick.<choice id>", checked against the content).
ACTIONS: Final = frozenset({"onboarding_next", "menu", story.NEXT, story.RESTART, story.PAY, subscription.CHANNEL_LINK,
                            subscription.CANCEL_RENEWAL, subscription.RESUME_RENEWAL,
                            shop.BACKPACK, shop.AUCTIONS, referrals.OPEN} | set(MENU_LABELS) | SETTINGS_ACTIONS)  # fmt: skip
# Buttons whose action names something after a prefix (a choice, a plan, an item, a backpack entry).
ACTION_PREFIXES: Final = (story.PICK, f"{story.PAY}.", subscription.BUY, shop.ITEM, shop.BUY, shop.REOPEN)
# Ways in that mean the same on any screen (notifications carry them): never stale.
ENTRY_ACTIONS: Final = frozenset({"menu", story.OPEN})
# Requests from community channels: they never change the screen in the private chat.
CHANNEL_KINDS: Final = frozenset({"reaction", "joined", "left"})
# Requests about money (the subscription, paid media) that leave the private chat's screen as it is.
# Paid media purchases a journey remembers (the latest; Postgres keeps them all).
PAID_MEDIA_KEPT: Final = 200
QUIET_KINDS: Final = frozenset({"pre_checkout", "vip_join", "refunded", "paid_media"})
PASS_TOKEN: Final = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# The daily reminders leave over this window after the reminder hour, each user at their own stable minute.
REMINDER_WAVE: Final = timedelta(hours=2)
# Consecutive "blocked" answers to Diana's own messages after which she stops the daily reminders.
MAX_BLOCKED_ANSWERS: Final = 3


class Rejection(Exception):
    """The request must not enter the journey; ``kind`` is one of ``JourneyError``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Decision:
    state: JourneyState
    screen: Screen
    effects: list[Effect] = field(default_factory=list)
    toast: Notice | None = None


def language_for(language_code: str | None) -> Language:
    """Spanish first: English only for users whose Telegram speaks English."""
    return "en" if (language_code or "").lower().startswith("en") else "es"


def is_duplicate(state: JourneyState, request: JourneyRequest) -> bool:
    return request.delivery in state.recent_deliveries


def validate(state: JourneyState, request: JourneyRequest, content: Content | None = None) -> None:
    """Raise ``Rejection`` for a request that must change nothing.

    Without ``content`` (not loaded yet) story buttons are checked only for their shape; the
    handler checks them again once the content is there.
    """
    if is_duplicate(state, request):
        return  # answered with the current screen, applied once
    validate_shape(state.user_id, request)
    if state.stage == "erased":
        raise Rejection(JourneyError.ERASED, "this journey was erased at the user's request")
    if state.stage == "lapsed":
        raise Rejection(JourneyError.LAPSED, "this journey ended with its introduction unfinished")
    if state.banned and request.kind not in ("payment", "refunded", "paid_media"):
        # A payment already moved the money: it is still applied (and support can refund it).
        raise Rejection(JourneyError.BANNED, "this user is banned from the community")
    if request.kind in CHANNEL_KINDS:
        _validate_channel(state, request)
        return
    if request.kind == "paid_media" and state.stage == "new":
        raise Rejection(JourneyError.NOT_STARTED, "paid media is sold to journeys that have begun")
    if request.kind in ("pre_checkout", "payment", "refunded", "redeem", "vip_join"):
        _validate_subscription(state, request, content)
        return
    if request.kind != "button":
        return
    if state.stage == "new":
        raise Rejection(JourneyError.NOT_STARTED, "the journey has not started yet")
    if request.screen != state.screen_seq and request.action not in ENTRY_ACTIONS:
        raise Rejection(JourneyError.STALE_SCREEN, "the button belongs to an older screen")
    if request.action == "onboarding_next" and state.stage != "onboarding":
        raise Rejection(JourneyError.STALE_SCREEN, "onboarding is already over")
    if request.action != "onboarding_next" and state.stage != "active":
        raise Rejection(JourneyError.STALE_SCREEN, "the menu opens after the introduction")
    if request.action == "erase_confirm" and (state.screen is None or state.screen.key != "settings.erase.ask"):
        raise Rejection(JourneyError.STALE_SCREEN, "erasing is confirmed only on its own screen")
    if content is not None and story.is_story_action(request.action):
        try:
            story.check(state, content, request.action)
        except story.StoryRejection as rejection:
            raise Rejection(rejection.kind, str(rejection)) from None
    if content is not None and subscription.is_buy(request.action):
        _subscription_check(subscription.plan_for, content, request.action)
    if content is not None and shop.is_shop_action(request.action):
        try:
            shop.check(state, content, request.action)
        except shop.ShopRejection as rejection:
            raise Rejection(rejection.kind, str(rejection)) from None
    if request.action == subscription.CHANNEL_LINK and not state.vip:
        raise Rejection(JourneyError.STALE_SCREEN, "the VIP channel is for VIPs")


def validate_shape(user_id: int, request: JourneyRequest) -> None:
    """The checks that hold whatever state the request meets (for requests queued behind others)."""
    if request.user_id != user_id or request.profile.user_id != user_id:
        raise Rejection(JourneyError.FOREIGN_USER, "this journey belongs to another user")
    if request.update_id <= 0:
        raise Rejection(JourneyError.INVALID_INPUT, "update ids are positive")
    if len(request.text) > MAX_TEXT_LENGTH:
        raise Rejection(JourneyError.INVALID_INPUT, f"text longer than {MAX_TEXT_LENGTH} characters")
    if request.kind == "button" and request.action not in ACTIONS and not request.action.startswith(ACTION_PREFIXES):
        raise Rejection(JourneyError.UNKNOWN_ACTION, f"unknown action {request.action!r}")
    if request.kind == "start" and request.action and not referrals.is_code(request.action):
        raise Rejection(JourneyError.INVALID_INPUT, "a /start carries nothing but an invitation code")
    if request.kind == "paid_media" and not 1 <= len(request.action.encode()) <= MAX_PAID_MEDIA_PAYLOAD:
        raise Rejection(JourneyError.INVALID_INPUT, "a paid media payload is 1 to 128 bytes")


def _validate_subscription(state: JourneyState, request: JourneyRequest, content: Content | None) -> None:
    if request.kind == "vip_join":
        if state.stage == "new" and not state.vip:  # VIP imported before their first /start: in the channel
            raise Rejection(JourneyError.NOT_STARTED, "the journey has not started yet")
        if not request.action.lstrip("-").isdigit():
            raise Rejection(JourneyError.INVALID_INPUT, f"malformed channel reference {request.action!r}")
        return
    if request.kind == "redeem":
        if state.stage not in ("onboarding", "active"):
            raise Rejection(JourneyError.NOT_STARTED, "a VIP pass is redeemed once the journey has begun")
        if not PASS_TOKEN.match(request.action):
            raise Rejection(JourneyError.INVALID_INPUT, "malformed VIP pass")
        return
    if state.stage != "active" or request.payment is None:
        raise Rejection(JourneyError.INVALID_INPUT if request.payment is None else JourneyError.NOT_STARTED,
                        "payments are for journeys past the introduction, with the payment's details")  # fmt: skip
    if request.kind == "pre_checkout":
        _subscription_check(subscription.check_pre_checkout, state, content, request.payment)
    elif request.kind == "payment":
        _subscription_check(subscription.check_payment, state, request.payment, content)
    elif not request.payment.charge_id:
        raise Rejection(JourneyError.INVALID_INPUT, "a refund names its charge")


def _subscription_check(check: Callable[..., object], *args: object) -> None:
    try:
        check(*args)
    except subscription.SubscriptionRejection as rejection:
        raise Rejection(rejection.kind, str(rejection)) from None


def _validate_channel(state: JourneyState, request: JourneyRequest) -> None:
    if state.stage != "active":
        raise Rejection(JourneyError.NOT_STARTED, "channel activity counts once the journey has begun")
    parts = request.action.split(":")
    if not all(part.lstrip("-").isdigit() for part in parts) or len(parts) != (2 if request.kind == "reaction" else 1):
        raise Rejection(JourneyError.INVALID_INPUT, f"malformed channel reference {request.action!r}")


def decide(state: JourneyState, request: JourneyRequest, now: datetime, content: Content,
           redemption: PassRedemption | None = None, claim: StockClaimed | None = None,
           invitation: Invitation | None = None) -> Decision:  # fmt: skip
    """Apply one validated request. A duplicate returns the current screen and changes nothing.

    ``redemption`` is Postgres's answer for a VIP pass (``redeem`` requests), claimed before deciding; ``claim`` the
    unit of a limited shop item the request buys (``shop.buying``), claimed before deciding too; ``invitation`` the
    valid invitation a new journey's /start carries.
    """
    if is_duplicate(state, request) and state.screen is not None:
        return Decision(state=state, screen=state.screen)
    validate(state, request, content)
    state = state.model_copy(deep=True)
    state.recent_deliveries = [*state.recent_deliveries, request.delivery][-RECENT_UPDATE_WINDOW:]
    turn = Turn(state=state, content=content, now=now, cause=request.delivery)
    # Whatever the subscription had due by now (a timer about to fire) applies before this request.
    subscription.tick(turn)
    shop.deliver_due(turn)
    if request.kind == "refunded":
        assert request.payment is not None
        subscription.refunded_by_telegram(turn, request.payment.charge_id)
    referrals.due(turn)  # a refund voids a referral still held
    if request.kind == "paid_media" and request.action not in state.paid_media:
        # The Stars were Telegram's to take (no pre-checkout): the purchase is the journey's to remember, once.
        state.paid_media = [*state.paid_media, request.action][-PAID_MEDIA_KEPT:]
    if request.kind in QUIET_KINDS:
        toast = subscription.join_decision(state) if request.kind == "vip_join" else None
        # Validated: the journey has begun, or (a VIP join) was imported VIP before the first /start.
        screen = state.screen or Screen(key="vip.join.approved")
        return Decision(state=state, screen=screen, effects=turn.effects, toast=toast)
    if request.kind in CHANNEL_KINDS:
        return _channel(turn, request)
    previous_visit = state.last_seen
    state.last_seen = now
    state.blocked_answers = 0  # writing to Diana again: the bot is not blocked (any more)
    first_contact = state.profile is None
    if state.profile != request.profile:
        state.profile = request.profile
        if first_contact:
            state.language = language_for(request.profile.language_code)
            state.joined_at = now
    stage_before = state.stage
    if request.kind == "redeem":
        assert redemption is not None and redemption.token == request.action
        screen = subscription.redeem(turn, redemption)
        if state.stage == "onboarding":
            # The pass is theirs already; the introduction goes on where it was.
            notice = Notice(key=f"notice.{screen.key}", params=screen.params)
            screen = _onboarding_screen(state).model_copy(update={"notices": [notice]})
    elif state.stage == "new":
        state.stage = "onboarding"
        state.onboarding_step = 1
        referrals.attribute(turn, invitation)
        screen = _onboarding_screen(state)
    elif state.stage == "onboarding":
        screen = _onboarding(turn, request)
    else:
        screen = _active(turn, request, previous_visit, claim)
    if state.stage == "active":
        register_visit(turn)
        settle(turn)
        leaderboard_effect(turn)
    if first_contact or turn.effects or request.kind == "start" or state.stage != stage_before:
        # The projection's profile row follows every stage change, award and /start.
        turn.effects.insert(0, save_profile(state, now))
    state.screen_seq += 1
    screen = screen.model_copy(update={"seq": state.screen_seq, "notices": [*turn.summary(), *screen.notices]})
    state.screen = screen
    return Decision(state=state, screen=screen, effects=turn.effects)


def _channel(turn: Turn, request: JourneyRequest) -> Decision:
    """A reaction or a channel join: the private chat's screen stays; news arrive as a notification."""
    state = turn.state
    toast = None
    if request.kind == "reaction":
        chat_id, message_id = (int(part) for part in request.action.split(":"))
        toast = react(turn, request.action)
        if toast.key != "toast.reaction.again":
            turn.effects.append(RecordReaction(user_id=state.user_id, chat_id=chat_id, message_id=message_id,
                                               rewarded=toast.key == "toast.reaction.rewarded", reacted_at=turn.now))  # fmt: skip
    elif request.kind == "joined":
        join_channel(turn, int(request.action))
    settle(turn)
    leaderboard_effect(turn)
    news = turn.summary()
    if (turn.achievements or turn.missions or turn.level_reached) and state.preferences.notifications:
        screen = Screen(key="notify.progress", notices=news, buttons=[[Button(label="menu.open", action="menu")]])
        turn.effects.append(notification(state, f"notify:{request.delivery}", screen))
    if turn.effects:
        turn.effects.insert(0, save_profile(state, turn.now))
    assert state.screen is not None
    return Decision(state=state, screen=state.screen, effects=turn.effects, toast=toast)


def save_profile(state: JourneyState, now: datetime) -> SaveProfile:
    assert state.profile is not None
    return SaveProfile(profile=state.profile, stage=state.stage, language=state.language, seen_at=now,
                       notifications=state.preferences.notifications, login_streak=state.devotion.streak,
                       longest_streak=state.devotion.longest, banned=state.banned)  # fmt: skip


def erase(turn: Turn, actor: str = "", reason: str = "the user asked for their data to be deleted") -> None:
    """Forget the user (their own wish, or staff's: ``actor``, default the user): off every leaderboard, personal
    data deleted."""
    state = turn.state
    state.stage = "erased"
    turn.effects.append(UpdateLeaderboard(user_id=state.user_id, name="", lifetime_besitos=0,
                                          week=state.leaderboard.week, week_besitos=0, remove=True))  # fmt: skip
    turn.effects.append(EraseData(user_id=state.user_id, requested_at=turn.now, actor=actor or f"user:{state.user_id}",
                                  reason=reason))  # fmt: skip


def _onboarding(turn: Turn, request: JourneyRequest) -> Screen:
    state = turn.state
    if request.kind != "button":
        # /start, /diana or text during the introduction: resume it where it was.
        return _onboarding_screen(state)
    if state.onboarding_step < ONBOARDING_SCREENS:
        state.onboarding_step += 1
        return _onboarding_screen(state)
    state.stage = "active"  # settling then unlocks First Steps (metric "registration")
    referrals.introduced(turn)
    return main_menu(state, greeting="menu.greeting.welcome", mood="curious")


def _onboarding_screen(state: JourneyState) -> Screen:
    step = state.onboarding_step
    name = state.profile.first_name if state.profile else ""
    label = "onboarding.next" if step < ONBOARDING_SCREENS else "onboarding.finish"
    return Screen(
        key=f"onboarding.{step}",
        params={"name": name, "step": step, "steps": ONBOARDING_SCREENS},
        buttons=[[Button(label=label, action="onboarding_next")]],
    )


def _active(turn: Turn, request: JourneyRequest, previous_visit: datetime | None,
            claim: StockClaimed | None = None) -> Screen:  # fmt: skip
    state, content, action = turn.state, turn.content, request.action
    if request.kind in ("start", "menu") or action == "menu":
        mood = moods.mood(state, previous_visit, turn.now)
        return main_menu(state, greeting=f"mood.{mood}", mood=mood)
    if request.kind == "text":
        return Screen(key="conversation.free_text", buttons=[_back_row()])
    if request.kind == "payment":
        assert request.payment is not None
        screen = subscription.pay(turn, request.payment)
        referrals.paid(turn, request.payment.charge_id)
        return screen
    if story.is_story_action(action):
        return story.play(turn, action)
    if action == subscription.OPEN:
        return subscription.vip_screen(state, content)
    if subscription.is_buy(action):
        return subscription.issue_invoice(turn, subscription.plan_for(content, action))
    if action == subscription.CHANNEL_LINK:
        return subscription.channel_link(turn)
    if action in (subscription.CANCEL_RENEWAL, subscription.RESUME_RENEWAL):
        return subscription.edit_renewal(turn, action)
    if shop.is_shop_action(action):
        return shop.play(turn, action, claim)
    if action == shop.AUCTIONS:  # drawn by the bot from the running auctions; the shop if it ever gets here
        return shop.shop_screen(state, content, turn.now)
    if action == "besitos":
        return besitos_screen(state)
    if action == referrals.OPEN:
        return referrals.invite_screen(turn)
    if action in ("missions", "achievements"):
        return goals_screen(state, content, action)
    if action == "settings" or action in SETTINGS_ACTIONS:
        return _settings(turn, action)
    # The ranking is drawn by the bot from the leaderboards: not a rule here.
    return Screen(key=f"coming_soon.{action}", buttons=[_back_row()])


def _settings(turn: Turn, action: str) -> Screen:
    state = turn.state
    if action == "notifications_toggle":
        state.preferences.notifications = not state.preferences.notifications
        turn.effects.append(save_profile(state, turn.now))
    elif action in ("language.es", "language.en"):
        state.language = "en" if action == "language.en" else "es"
        state.preferences.language_chosen = True
        turn.effects.append(save_profile(state, turn.now))
    elif action == "export":
        turn.effects.append(ExportData(user_id=state.user_id, idempotency_key=f"journey-{state.user_id}:export:{turn.cause}",
                                       language=state.language, journey=state.exported(), requested_at=turn.now))  # fmt: skip
        return Screen(
            key="settings.export.sent", buttons=[[Button(label="menu.settings", action="settings")], _back_row()]
        )
    elif action == "erase":
        return Screen(
            key="settings.erase.ask",
            buttons=[[Button(label="settings.erase.confirm", action="erase_confirm")],
                     [Button(label="settings.erase.cancel", action="settings")]],
        )  # fmt: skip
    elif action == "erase_confirm":
        erase(turn)
        return Screen(key="settings.erased")
    other = "en" if state.language == "es" else "es"
    return Screen(
        key="settings.menu",
        params={"notifications_key": "settings.on" if state.preferences.notifications else "settings.off"},
        buttons=[
            [Button(label="settings.notifications.off" if state.preferences.notifications else
                    "settings.notifications.on", action="notifications_toggle")],
            [Button(label=f"settings.language.{other}", action=f"language.{other}")],
            [Button(label="settings.export", action="export"), Button(label="settings.erase", action="erase")],
            _back_row(),
        ],
    )  # fmt: skip


def main_menu(state: JourneyState, *, greeting: str, mood: moods.Mood) -> Screen:
    name = state.profile.first_name if state.profile else ""
    order = moods.MENU_ORDER[mood]
    entries = [Button(label=MENU_LABELS[action], action=action) for action in order]
    rows = [entries[:1], *[entries[i : i + 2] for i in range(1, len(entries), 2)]]
    return Screen(key=greeting, params={"name": name, "mood": mood}, buttons=rows)


def besitos_screen(state: JourneyState) -> Screen:
    progress = level_progress(state.lifetime_besitos)
    return Screen(
        key="besitos.summary",
        params={
            "balance": state.besitos,
            "level": progress.level,
            "next_level": progress.level + 1,
            "into_level": progress.into_level,
            "level_cost": progress.cost,
            "remaining": progress.remaining,
            "percent": progress.percent,
            "bar": progress_bar(progress),
            "streak": state.devotion.streak,
            "longest": state.devotion.longest,
            "spendable": spendable(state),
            "reserved": state.wallet.reserved,
            "spent": state.wallet.spent,
        },
        buttons=[[Button(label="menu.shop", action=shop.OPEN), Button(label="shop.backpack", action=shop.BACKPACK)],
                 [Button(label="referrals.open", action=referrals.OPEN)], _back_row()],
    )  # fmt: skip


def _back_row() -> list[Button]:
    return [Button(label="menu.back", action="menu")]


def next_reminder(state: JourneyState, content: Content, now: datetime) -> datetime | None:
    """When to remind a user who has not visited: the next reminder hour, unless they opted out."""
    if state.stage != "active" or not state.preferences.notifications or state.blocked_answers >= MAX_BLOCKED_ANSWERS:
        return None
    return reminder_time(state.user_id, now, content.calendar.timezone, content.calendar.reminder_hour)


def reminder_time(user_id: int, now: datetime, timezone: str, hour: int) -> datetime:
    """The first moment strictly after ``now`` in this user's place of the daily reminder wave: ``hour``:00 local plus
    a stable offset within ``REMINDER_WAVE`` (the same user, the same minute every day; users spread evenly), so a
    hundred thousand reminders never leave in the same second. The wave ends by midnight (a day's reminder stays in
    its day)."""
    until_midnight = timedelta(hours=24 - hour)
    wave = min(REMINDER_WAVE, until_midnight - timedelta(minutes=1))
    offset = timedelta(seconds=(user_id * 2_654_435_761) % 2**32 * int(wave.total_seconds()) // 2**32)
    base = next_local_time(now - offset, timezone, hour)
    return base + offset


def message_refused(state: JourneyState, blocked: bool) -> None:
    """A message Diana sent on her own was refused for good: after ``MAX_BLOCKED_ANSWERS`` "blocked" answers in a row
    the daily reminders stop (until the user writes again)."""
    if blocked:
        state.blocked_answers += 1


def remind(state: JourneyState, content: Content, now: datetime) -> list[Effect]:
    """At the reminder hour: one gentle message, only to users who have not visited today."""
    calendar = content.calendar
    today = local_day(now, calendar.timezone)
    if next_reminder(state, content, now) is None or state.devotion.last_day == today or state.reminded_on == today:
        return []
    # Woken early (by another event, or a timer set for it): not before this user's moment of today's wave.
    first = start_of_day(today, calendar.timezone) - timedelta(microseconds=1)
    if now < reminder_time(state.user_id, first, calendar.timezone, calendar.reminder_hour):
        return []
    state.reminded_on = today
    name = state.profile.first_name if state.profile else ""
    screen = Screen(
        key="notify.reminder",
        params={"name": name, "streak": state.devotion.streak},
        buttons=[[Button(label="menu.story", action="story")], [Button(label="menu.open", action="menu")]],
    )
    reminder = notification(state, f"reminder:{today.isoformat()}", screen)
    return [reminder.model_copy(update={"bulk": True})]


def lapse_due(state: JourneyState, content: Content | None) -> datetime | None:
    """When a journey still at the introduction ends: ``introduction_days`` after the last visit (or after it was
    opened, by an update it refused). Never once the introduction is over, or with a VIP pass redeemed meanwhile."""
    if state.stage not in ("new", "onboarding") or state.subscription.charges:
        return None
    since = state.last_seen or state.opened_at
    days = (content.community if content is not None else Community()).introduction_days
    return since + timedelta(days=days) if since is not None else None


def next_alarm(state: JourneyState, content: Content | None, now: datetime) -> datetime | None:
    """When the journey must wake on its own: the daily reminder, the subscription's next event, or the end of an
    introduction left unfinished (``content`` None: the journey never read one, so only that)."""
    due = [lapse_due(state, content)]
    if content is not None:
        due += [
            next_reminder(state, content, now),
            subscription.next_event(state, content),
            shop.next_delivery(state),
            referrals.next_due(state),
        ]
    return min((moment for moment in due if moment is not None), default=None)


def alarm(state: JourneyState, content: Content | None, now: datetime) -> list[Effect]:
    """The journey woke on its own: end an introduction left too long, or send the daily reminder if due and move
    the subscription on."""
    lapse = lapse_due(state, content)
    if lapse is not None and now >= lapse:
        state.stage = "lapsed"
        # Nothing of theirs is needed any more (no besitos, no purchase): the profile goes, as on erasure.
        return [EraseData(user_id=state.user_id, requested_at=now, actor="diana",
                          reason="the introduction was left unfinished")]  # fmt: skip
    if content is None:
        return []
    effects = remind(state, content, now)
    turn = Turn(state=state, content=content, now=now, cause=f"alarm:{now.isoformat()}")
    subscription.tick(turn)
    shop.deliver_due(turn)
    referrals.due(turn)
    return [*effects, *turn.effects]


def search_attribute_values(state: JourneyState) -> dict[str, str | int | bool | datetime | None]:
    """What the Temporal UI filters on, derived from the state (no personal data).

    Last seen is kept to the minute: operators ask "idle for days", and a finer value would add
    a history event to every single update.
    """
    last_seen = state.last_seen.replace(second=0, microsecond=0) if state.last_seen else None
    return {
        "JourneyStage": state.stage,
        "BesitosLevel": level_progress(state.lifetime_besitos).level,
        "BesitosBalance": state.besitos,
        "VipActive": state.vip,
        "LastSeenAt": last_seen,
        "VipExpiresAt": state.subscription.expires_at if state.subscription.status in ("active", "grace") else None,
        "VipStatus": state.subscription.status,
        "StoryFragment": state.story.fragment_id,
        "JoinedAt": state.joined_at.replace(second=0, microsecond=0) if state.joined_at else None,
    }


# What journeys before the memo held no profile kept there (their histories still replay it).
PROFILE_MEMO: Final = ("username", "first_name")


def memo_values(state: JourneyState, *, profile: bool = False) -> dict[str, str | None]:
    """What operators read of a journey in the Temporal UI beside its id (not searchable): its language. No rule
    needs who the user is there (``profile``: the memo of journeys from before, kept for their replays)."""
    values: dict[str, str | None] = {"language": state.language}
    if profile:
        user = state.profile
        values = {"username": f"@{user.username}" if user and user.username else None,
                  "first_name": user.first_name if user else None, **values}  # fmt: skip
    return values
