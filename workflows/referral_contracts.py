"""Referrals' messages: what a journey keeps about invitations, what one journey tells another, and the effects.

A random, stable code per user names their invitation link (``https://t.me/<bot>?start=ref_<code>``), never their
user id. The newcomer's journey tells the referrer's journey about each event once (a ``Referral`` Update). No journey
keeps another user's Telegram id: the newcomer keeps the referrer's code (resolved in Postgres each time it tells them;
gone with the referrer's erasure), the referrer a random token per newcomer.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Final, Literal

from pydantic import BaseModel, Field

# joined: attributed at the newcomer's first /start; introduced: the newcomer finished the introduction;
# paid: the newcomer's first Stars payment was not refunded within the holding period.
ReferralEvent = Literal["joined", "introduced", "paid"]
# A code as the journey makes it (``referrals.new_code``): ten lowercase letters and digits.
REFERRAL_CODE: Final = re.compile(r"^[a-z0-9]{10}$")
# none: no first payment yet; holding: waiting for the holding period; paid / voided (refunded inside it).
HoldingStatus = Literal["none", "holding", "paid", "voided"]
# Events applied by a referrer's journey ("<newcomer>:<event>") remembered for de-duplication (the latest).
MAX_APPLIED: Final = 3000


class Referral(BaseModel):
    """The user's invitations: their own code and what it brought (as referrer), and who invited them (newcomer)."""

    code: str = ""  # this user's own invitation code ("" until they first open the Invita screen)
    code_saved: bool = False
    # As the newcomer: who invited them (their code; attributed once, at the first /start), this newcomer's token
    # as the referrer knows them, and the events told to them.
    referrer: str = ""
    token: str = ""
    told: list[ReferralEvent] = Field(default_factory=list)
    holding: HoldingStatus = "none"
    holding_charge: str = ""
    holding_until: datetime | None = None
    # As the referrer: newcomers who joined, finished the introduction, paid; and what that earned.
    joined: int = 0
    introduced: int = 0
    paid: int = 0
    besitos_earned: int = 0
    vip_days_earned: int = 0
    applied: list[str] = Field(default_factory=list)
    rewarded_day: date | None = None
    rewarded_today: int = 0


class ReferralRequest(BaseModel):
    """A newcomer's journey tells the referrer's journey of one event; applied once per (newcomer, event)."""

    referrer: int
    newcomer: str = Field(pattern=REFERRAL_CODE.pattern)  # the newcomer's token
    event: ReferralEvent


class ReferralReply(BaseModel):
    ok: bool
    duplicate: bool = False


class ResolveReferral(BaseModel):
    """Whether an invitation code is someone's (Postgres ``referral_codes``) other than the newcomer's own."""

    code: str = Field(pattern=REFERRAL_CODE.pattern)
    newcomer: int


class ReferralResolved(BaseModel):
    valid: bool  # False: no such code, or the newcomer's own


class Invitation(BaseModel):
    """A new journey's /start came through a valid invitation: its code, and the newcomer's new token."""

    code: str = Field(pattern=REFERRAL_CODE.pattern)
    token: str = Field(pattern=REFERRAL_CODE.pattern)


class TellReferrer(BaseModel):
    """Effect: the owner of ``code`` (if still there) applies ``event`` in their journey (its ``Referral`` Update)."""

    kind: Literal["tell_referrer"] = "tell_referrer"
    code: str
    newcomer: str  # the newcomer's token
    event: ReferralEvent


class SaveReferralCode(BaseModel):
    """Effect: the code → user row the bot's deep links are resolved by (written once)."""

    kind: Literal["save_referral_code"] = "save_referral_code"
    user_id: int
    code: str
    created_at: datetime
