"""The journey's custom search attributes, shown and filtered in the Temporal UI.

No personal data here: ids, numbers and stages only.
"""

from __future__ import annotations

from typing import Any, Final

from temporalio.common import SearchAttributeKey

JOURNEY_STAGE: Final = SearchAttributeKey.for_keyword("JourneyStage")
BESITOS_LEVEL: Final = SearchAttributeKey.for_int("BesitosLevel")
BESITOS_BALANCE: Final = SearchAttributeKey.for_int("BesitosBalance")
VIP_ACTIVE: Final = SearchAttributeKey.for_bool("VipActive")
LAST_SEEN_AT: Final = SearchAttributeKey.for_datetime("LastSeenAt")
VIP_EXPIRES_AT: Final = SearchAttributeKey.for_datetime("VipExpiresAt")
VIP_STATUS: Final = SearchAttributeKey.for_keyword("VipStatus")
STORY_FRAGMENT: Final = SearchAttributeKey.for_keyword("StoryFragment")
JOINED_AT: Final = SearchAttributeKey.for_datetime("JoinedAt")

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
# Added after journeys were live: published only by runs that passed ``workflow.patched(PATCH)``.
LATER: Final = frozenset({"VipStatus", "StoryFragment", "JoinedAt"})
PATCH: Final = "story-and-vip-attributes-and-memo"
# Changed by most turns: published at most once a minute (``workflows.journey.SETTLED_ATTRIBUTES_WINDOW``).
SETTLED: Final = frozenset({"BesitosBalance", "StoryFragment", "LastSeenAt"})
