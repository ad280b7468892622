"""Message contracts between the bot, the journey workflow and its activities.

Everything that crosses a process boundary is one of these pydantic models, so the
bot, the worker, the tests and the Replayer agree on the shape of every payload.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import BaseModel, Field

# Telegram's own limit for a message text; longer input cannot be a real message.
MAX_TEXT_LENGTH: Final = 4096

Language = Literal["es", "en"]
Stage = Literal["new", "onboarding", "active"]
RequestKind = Literal["start", "menu", "button", "text"]


class TelegramProfile(BaseModel):
    """Who the user is on Telegram, as the bot saw it on this update."""

    user_id: int
    first_name: str = ""
    username: str | None = None
    language_code: str | None = None


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

    @property
    def delivery(self) -> str:
        """What makes this delivery unique: the Temporal update id and the de-duplication key."""
        return f"{self.update_id}-{self.fingerprint}" if self.fingerprint else str(self.update_id)


class Notice(BaseModel):
    """A line shown above a screen: an award, an unlocked achievement, a level up."""

    key: str
    params: dict[str, str | int] = Field(default_factory=dict)


class Button(BaseModel):
    label: str
    action: str


class Screen(BaseModel):
    """What the user sees: a text (by locale key), notices above it and buttons below."""

    key: str
    params: dict[str, str | int] = Field(default_factory=dict)
    notices: list[Notice] = Field(default_factory=list)
    buttons: list[list[Button]] = Field(default_factory=list)
    seq: int = 0


class JourneyReply(BaseModel):
    screen: Screen
    language: Language
    # True when the update had already been applied (a redelivery); nothing changed.
    duplicate: bool = False


# Effects: side effects the rules ask for; the workflow runs each one as an activity.


class SaveProfile(BaseModel):
    kind: Literal["save_profile"] = "save_profile"
    profile: TelegramProfile
    stage: Stage
    language: Language
    seen_at: datetime


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


Effect = Annotated[SaveProfile | AwardBesitos | UnlockAchievement, Field(discriminator="kind")]


class JourneyState(BaseModel):
    """All of one user's journey. The workflow's state is the truth; Postgres projects it."""

    user_id: int
    stage: Stage = "new"
    onboarding_step: int = 0
    profile: TelegramProfile | None = None
    language: Language = "es"
    besitos: int = 0
    lifetime_besitos: int = 0
    achievements: list[str] = Field(default_factory=list)
    screen: Screen | None = None
    screen_seq: int = 0
    joined_at: datetime | None = None
    last_seen: datetime | None = None
    # Deliveries (update id + fingerprint) already applied, bounded, carried across
    # continue-as-new so a redelivered update is applied once even in a later run.
    recent_deliveries: list[str] = Field(default_factory=list)
    # Effects decided but not yet carried out; carried across continue-as-new.
    pending_effects: list[Effect] = Field(default_factory=list)
    # Effects the projection refused for good (e.g. a constraint violation), kept for support.
    parked_effects: list[Effect] = Field(default_factory=list)


class JourneyInput(BaseModel):
    user_id: int
    state: JourneyState | None = None


class JourneyError:
    """``ApplicationError.type`` names the bot matches on when the journey rejects an update."""

    UNKNOWN_ACTION: Final = "UnknownAction"
    STALE_SCREEN: Final = "StaleScreen"
    FOREIGN_USER: Final = "ForeignUser"
    NOT_STARTED: Final = "JourneyNotStarted"
    INVALID_INPUT: Final = "InvalidInput"
