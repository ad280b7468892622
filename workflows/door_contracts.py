"""What the free channels' door (``workflows.door``) takes, sends and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from workflows.contracts import Language

# approved: the user is in; withdrawn: the request was gone (withdrawn, or handled by hand in Telegram); declined: a
# banned user; refused: Telegram refused the bot (no longer the channel's admin).
DoorOutcome = Literal["approved", "withdrawn", "declined", "refused"]


class DoorInput(BaseModel):
    """One join request to a free channel, with the delay in force when it arrived."""

    chat_id: int
    user_id: int
    language: Language = "es"
    channel_title: str = Field(default="", max_length=256)
    delay_seconds: int = Field(ge=0, le=86_400)
    requested_at: datetime  # Telegram's date of the request: the delay counts from it


class DoorMessage(BaseModel):
    """The wait message (at the request) or the welcome (once approved), each sent once."""

    kind: Literal["wait", "welcome"]
    idempotency_key: str
    chat_id: int
    user_id: int
    language: Language = "es"
    channel_title: str = ""
    delay_seconds: int = 0


class DoorAnswer(BaseModel):
    """Approve (or, for a banned user, decline) the request."""

    chat_id: int
    user_id: int
    approve: bool


class DoorResult(BaseModel):
    outcome: DoorOutcome
    # The user could not be written to (blocked the bot): approved without messages.
    silent: bool = False
