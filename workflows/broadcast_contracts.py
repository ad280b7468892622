"""Contracts of admin broadcasts: the Broadcast workflow's input and progress, and its activities' payloads.

A broadcast sends one admin text to every user of a segment, page by page in ``telegram_user_id``
order; the progress (a cursor and the counts so far) is all the state there is, so it is carried
whole across continue-as-new.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal, Self

from pydantic import BaseModel, Field, model_validator

from workflows.contracts import MAX_TEXT_LENGTH, Language, MediaKind

Segment = Literal["all", "vip", "free", "inactive"]
# Telegram's album: 2 to 10 photos and videos (or audio, or documents) in one message group.
MAX_ALBUM: Final = 10
# Telegram's price range for paid media (paid_media_message_star_count_max), and what it sells: photos and videos.
MAX_PAID_MEDIA_STARS: Final = 25_000
PAID_MEDIA_KINDS: Final = frozenset({"photo", "video"})
PAID_MEDIA_PREFIX: Final = "paid:"


class PostMedia(BaseModel):
    """Media an admin attached to a post or a broadcast, as Telegram holds it (the bot's own ``file_id``)."""

    kind: MediaKind
    file_id: str = Field(min_length=1, max_length=256)


# Recipients per send_broadcast_page activity: a few seconds of sending at the broadcast pace.
PAGE_SIZE: Final = 100
BROADCAST_ID_PREFIX: Final = "broadcast-"


def telegram_length(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji outside the BMP counts twice)."""
    return len(text.encode("utf-16-le")) // 2


class BroadcastProgress(BaseModel):
    """How far a broadcast got. ``cursor`` is the last user id handled; every count only grows.

    ``total`` is the segment's size counted when the broadcast started (users who join later and
    fall in the segment are included too, so it is raised as needed); once ``done`` it is exact.
    ``unconfirmed``: a worker died while the message was with Telegram, so whether it arrived is
    unknown; it is not sent again (a broadcast never sends twice).
    """

    cursor: int = 0
    sent: int = 0
    blocked: int = 0
    failed: int = 0
    unconfirmed: int = 0
    total: int = 0
    done: bool = False
    pages: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # The "inactive N days" cut-off, fixed when the broadcast starts so the segment does not drift.
    inactive_before: datetime | None = None
    recorded: bool = False

    @property
    def handled(self) -> int:
        return self.sent + self.blocked + self.failed + self.unconfirmed


class BroadcastInput(BaseModel):
    """One admin broadcast. ``text`` is sent as plain text (never parsed as HTML), the same to everyone.

    ``language`` is the admin's, for the summary they get at the end; ``progress`` is set only by
    continue-as-new.
    """

    broadcast_id: str = Field(min_length=len(BROADCAST_ID_PREFIX) + 1, max_length=60,
                              pattern=r"^broadcast-[A-Za-z0-9_-]+$")  # fmt: skip
    actor: int
    segment: Segment
    inactive_days: int | None = Field(default=None, ge=1, le=3650)
    text: str = Field(min_length=1)
    language: Language = "es"
    page_size: int = Field(default=PAGE_SIZE, ge=1, le=1000)
    progress: BroadcastProgress | None = None
    # A photo, video, voice note or album sent with the text (its caption when the text fits one).
    media: list[PostMedia] = Field(default_factory=list, max_length=MAX_ALBUM)
    # Recipients cannot forward or save it.
    protect_content: bool = True
    # Sold: the media unlocks for this many Stars (sendPaidMedia), the text as its caption.
    star_count: int | None = Field(default=None, ge=1, le=MAX_PAID_MEDIA_STARS)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.segment == "inactive") != (self.inactive_days is not None):
            raise ValueError("inactive_days goes with the inactive segment, and only with it")
        if not self.text.strip():
            raise ValueError("the text is empty")
        if telegram_length(self.text) > MAX_TEXT_LENGTH:
            raise ValueError(f"the text is longer than Telegram's {MAX_TEXT_LENGTH} characters")
        if self.star_count is not None and (not self.media or any(m.kind not in PAID_MEDIA_KINDS for m in self.media)):
            raise ValueError("paid media is 1 to 10 photos and videos")
        return self

    @property
    def paid_media_payload(self) -> str | None:
        """What Telegram reports back with each purchase of this broadcast's paid media (at most 128 bytes)."""
        return f"{PAID_MEDIA_PREFIX}{self.broadcast_id}" if self.star_count is not None else None


class RecipientsRequest(BaseModel):
    """The next page of a segment: users with an id above ``after``, at most ``limit`` of them."""

    broadcast_id: str
    segment: Segment
    inactive_before: datetime | None = None
    after: int = 0
    limit: int = PAGE_SIZE
    # Count the whole segment too (the first page only: a count per page would scan the table each time).
    count: bool = False


class RecipientsPage(BaseModel):
    user_ids: list[int]
    total: int | None = None


class BroadcastPage(BaseModel):
    """Send ``text`` (with ``media``) to each of ``user_ids``; each message is keyed ``broadcast:<id>:<user id>``."""

    broadcast_id: str
    text: str
    user_ids: list[int]
    media: list[PostMedia] = Field(default_factory=list)
    protect_content: bool = True
    star_count: int | None = None
    paid_media_payload: str | None = None


class PageOutcome(BaseModel):
    sent: int = 0
    blocked: int = 0
    failed: int = 0
    unconfirmed: int = 0


class BroadcastRecord(BaseModel):
    """The ``broadcasts`` row: written when the broadcast starts, and with its totals when it ends."""

    broadcast_id: str
    actor: int
    segment: Segment
    inactive_days: int | None
    text: str
    language: Language = "es"
    progress: BroadcastProgress


def message_key(broadcast_id: str, user_id: int) -> str:
    """The idempotency key of one broadcast message (a row in ``notifications``)."""
    return f"broadcast:{broadcast_id}:{user_id}"


def report_key(broadcast_id: str) -> str:
    """The idempotency key of the summary the admin gets at the end."""
    return f"broadcast:{broadcast_id}:report"
