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

# name -> type, as `temporal server start-dev --search-attribute Name=Type` expects.
REGISTRATION: Final[dict[str, str]] = {
    "JourneyStage": "Keyword",
    "BesitosLevel": "Int",
    "BesitosBalance": "Int",
    "VipActive": "Bool",
    "LastSeenAt": "Datetime",
    "VipExpiresAt": "Datetime",
}

KEYS: Final[dict[str, SearchAttributeKey[Any]]] = {
    key.name: key for key in (JOURNEY_STAGE, BESITOS_LEVEL, BESITOS_BALANCE, VIP_ACTIVE, LAST_SEEN_AT, VIP_EXPIRES_AT)
}
