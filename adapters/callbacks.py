"""Typed callback data. Prefixes come from one registry, checked for collisions at import."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class CallbackPrefix(StrEnum):
    JOURNEY = "j"
    REACTION = "r"
    ADMIN_USER = "adu"
    ADMIN_PANEL = "adm"
    BROADCAST = "bc"
    CONFIRM = "ok"
    AUCTION = "auc"
    AUCTION_ADMIN = "aua"
    ORDER = "ord"
    DOOR = "dr"


assert len(set(CallbackPrefix)) == len(list(CallbackPrefix)), "callback prefixes must be unique"


class JourneyCB(CallbackData, prefix=CallbackPrefix.JOURNEY):
    """A button of a journey screen: the action, and the screen it belongs to (to spot stale ones)."""

    action: str
    screen: int


class ReactionCB(CallbackData, prefix=CallbackPrefix.REACTION):
    """A reaction button under a community channel post; the post is the message it sits on."""

    emoji: int


class AuctionCB(CallbackData, prefix=CallbackPrefix.AUCTION):
    """A bid button under the running auctions: which auction, how much, and the journey screen the list was opened
    from (its back button returns there)."""

    auction: str
    amount: int
    screen: int


class AuctionAdminCB(CallbackData, prefix=CallbackPrefix.AUCTION_ADMIN):
    """An admin's button on a running auction: ``action`` "cancel" (which asks for a ✅)."""

    action: str
    auction: str = ""


class OrderCB(CallbackData, prefix=CallbackPrefix.ORDER):
    """A button of the admins' orders list: ``action`` is list (a new list), refresh (redraw this one), deliver or
    refund; the order is the user's backpack entry (``purchase``, "p<n>")."""

    action: str
    user_id: int = 0
    purchase: str = ""


class DoorCB(CallbackData, prefix=CallbackPrefix.DOOR):
    """A button of the admins' join requests list (🚪): list, refresh, or approve_all."""

    action: str
