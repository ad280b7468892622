"""What the Temporal UI shows of a journey: custom search attributes (filtered on) and the memo (read).

No personal data in the attributes: ids, numbers and stages only. Each upsert is a write to the server's
visibility store, so a journey publishes once per workflow task that changed its state, however many handlers
it ran, and what changes on most turns (balance, fragment, last seen) at most once per SETTLED_WINDOW; the
last values of a user who stopped go out when a trailing timer rings.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

from workflows.contracts import JourneyState
from workflows.rules import PROFILE_MEMO, memo_values, search_attribute_values
from workflows.timer import Timer

JOURNEY_STAGE: Final = SearchAttributeKey.for_keyword("JourneyStage")
BESITOS_LEVEL: Final = SearchAttributeKey.for_int("BesitosLevel")
BESITOS_BALANCE: Final = SearchAttributeKey.for_int("BesitosBalance")
VIP_ACTIVE: Final = SearchAttributeKey.for_bool("VipActive")
LAST_SEEN_AT: Final = SearchAttributeKey.for_datetime("LastSeenAt")
VIP_EXPIRES_AT: Final = SearchAttributeKey.for_datetime("VipExpiresAt")
VIP_STATUS: Final = SearchAttributeKey.for_keyword("VipStatus")
STORY_FRAGMENT: Final = SearchAttributeKey.for_keyword("StoryFragment")
JOINED_AT: Final = SearchAttributeKey.for_datetime("JoinedAt")

KEYS: Final[dict[str, SearchAttributeKey[Any]]] = {
    key.name: key
    for key in (
        JOURNEY_STAGE,
        BESITOS_LEVEL,
        BESITOS_BALANCE,
        VIP_ACTIVE,
        LAST_SEEN_AT,
        VIP_EXPIRES_AT,
        VIP_STATUS,
        STORY_FRAGMENT,
        JOINED_AT,
    )  # fmt: skip
}
# name -> type, as `temporal server start-dev --search-attribute Name=Type` expects.
REGISTRATION: Final[dict[str, str]] = {
    "JourneyStage": "Keyword",
    "BesitosLevel": "Int",
    "BesitosBalance": "Int",
    "VipActive": "Bool",
    "LastSeenAt": "Datetime",
    "VipExpiresAt": "Datetime",
    "VipStatus": "Keyword",
    "StoryFragment": "Keyword",
    "JoinedAt": "Datetime",
}
# Changed by most turns: published at most once per SETTLED_WINDOW.
SETTLED: Final = frozenset({"BesitosBalance", "StoryFragment", "LastSeenAt"})
SETTLED_WINDOW: Final = timedelta(minutes=1)
# From this patch on the memo holds no profile (collect less); journeys from before replay as they ran.
MEMO_WITHOUT_PROFILE: Final = "memo-without-profile"


class JourneyPublisher:
    """Keeps the journey's search attributes and memo current; unchanged values cost nothing."""

    def __init__(self) -> None:
        self._attributes: dict[str, Any] = {}
        self._memo: dict[str, Any] = {}
        self._profile_dropped = False
        self._published_at: datetime | None = None
        self._stale = True
        self._settle = Timer("publish the settled search attributes")

    def state_changed(self) -> None:
        self._stale = True

    async def keep_current(self, state: Callable[[], JourneyState]) -> None:
        """Run for the life of the run: publish after each workflow task that changed the state, and what was held
        back, when its timer rings."""
        while True:
            await workflow.wait_condition(lambda: self._stale or self._settle.rang)
            settled = self._settle.take()
            self._stale = False
            self.publish(state(), settled=settled)

    def publish(self, state: JourneyState, *, settled: bool = False) -> None:
        attributes = _changed(self._attributes, search_attribute_values(state))
        memo = self._memo_changes(state)
        if not attributes and not memo:
            return
        if not settled and not memo and self._published_at is not None and attributes.keys() <= SETTLED:
            settles_at = self._published_at + SETTLED_WINDOW
            if workflow.now() < settles_at:
                self._settle.set(settles_at)
                return
        self._settle.set(None)
        self._published_at = workflow.now()
        if attributes:
            updates: list[SearchAttributeUpdate[Any]] = [
                KEYS[name].value_unset() if value is None else KEYS[name].value_set(value)
                for name, value in attributes.items()
            ]
            workflow.upsert_search_attributes(updates)
            self._attributes.update(attributes)
        if memo:
            workflow.upsert_memo(memo)
            self._memo.update(memo)

    def _memo_changes(self, state: JourneyState) -> dict[str, Any]:
        if not workflow.patched(MEMO_WITHOUT_PROFILE):
            return _changed(self._memo, memo_values(state, profile=True))
        changes = _changed(self._memo, memo_values(state))
        if not self._profile_dropped:
            # A memo carried over from a run that still held the profile loses it, once.
            self._profile_dropped = True
            changes.update({name: None for name in PROFILE_MEMO if name in workflow.memo()})
        return changes


def _changed(published: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if published.get(name) != value}
