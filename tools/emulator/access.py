"""Who is in a channel and how they got there: joins, invite links, join requests, bans, getChatMember.

A channel member's status is ``member``, ``left`` or ``kicked`` (banned); the bot is ``administrator``.
A user with a pending join request is still ``left`` for getChatMember, as in Telegram. Community
channels can be joined by anyone; a channel added with ``invite_only`` (``"private": true`` in the
control API) only through one of the bot's invite links.

Bot API: ``getChatMember``, ``createChatInviteLink``, ``revokeChatInviteLink``, ``approveChatJoinRequest``,
``declineChatJoinRequest``, ``banChatMember``, ``unbanChatMember``. Control API:
``POST /control/users/{user_id}/join`` {"chat_id", "invite_link"?, profile...}, ``.../leave`` {"chat_id"} and
``.../withdraw`` {"chat_id"} (the user cancels a pending join request: Telegram sends the bot no update, and
approving or declining it then fails with HIDE_REQUESTER_MISSING).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from aiogram.types import (
    Chat,
    ChatInviteLink,
    ChatJoinRequest,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberUpdated,
    Update,
    User,
)
from aiohttp import web

from tools.emulator.common import (
    BOT_ID,
    Handler,
    bool_param,
    bot_user,
    dump,
    int_param,
    json_body,
    ok_response,
    profile_of,
    user_id_param,
)
from tools.emulator.markup import BadRequest

if TYPE_CHECKING:
    from tools.emulator.server import BotAPIEmulator, ChatLog

INVITE_LINK_PREFIX: Final = "https://t.me/+"
MAX_MEMBER_LIMIT: Final = 99999
MAX_LINK_NAME: Final = 32
# Telegram takes a ban shorter than 30 seconds or longer than 366 days as a ban forever (until_date 0).
SHORTEST_BAN: Final = 30
LONGEST_BAN: Final = 366 * 24 * 3600
NOT_A_CHANNEL: Final = "Bad Request: method is available for supergroup and channel chats only"
# What the user's app says when a join is refused; the control API answers with it.
LINK_INVALID: Final = "Bad Request: INVITE_HASH_INVALID (no such invite link in this channel)"
LINK_REVOKED: Final = "Bad Request: INVITE_HASH_EXPIRED (the invite link was revoked)"
LINK_EXPIRED: Final = "Bad Request: INVITE_HASH_EXPIRED (the invite link expired)"
LINK_USED_UP: Final = "Bad Request: INVITE_HASH_EXPIRED (the invite link reached its member limit)"
BANNED: Final = "Bad Request: USER_BANNED_IN_CHANNEL (the user is banned from the channel)"
INVITE_ONLY: Final = "Bad Request: CHANNEL_PRIVATE (the channel can be joined only through an invite link)"


@dataclass
class InviteLink:
    """An invite link the bot created, and how many users joined through it."""

    chat_id: int
    invite_link: str
    name: str | None
    expire_date: int | None
    member_limit: int | None
    creates_join_request: bool
    is_revoked: bool = False
    uses: int = 0

    def model(self) -> ChatInviteLink:
        return ChatInviteLink(
            invite_link=self.invite_link,
            creator=bot_user(),
            creates_join_request=self.creates_join_request,
            is_primary=False,
            is_revoked=self.is_revoked,
            name=self.name,
            expire_date=_moment(self.expire_date) if self.expire_date else None,
            member_limit=self.member_limit,
        )

    def refusal(self) -> str | None:
        """Why the link lets nobody in now (the emulator's clock is real time), or None."""
        if self.is_revoked:
            return LINK_REVOKED
        if self.expire_date and self.expire_date <= time.time():
            return LINK_EXPIRED
        if self.member_limit and self.uses >= self.member_limit:
            return LINK_USED_UP
        return None


class Access:
    """Channel membership for a :class:`BotAPIEmulator`: its Bot API methods and control routes."""

    def __init__(self, emulator: BotAPIEmulator) -> None:
        self.emulator = emulator
        self.links: dict[str, InviteLink] = {}

    def methods(self) -> dict[str, Handler]:
        return {
            "getChatMember": self._get_chat_member,
            "createChatInviteLink": self._create_chat_invite_link,
            "revokeChatInviteLink": self._revoke_chat_invite_link,
            "approveChatJoinRequest": self._approve_chat_join_request,
            "declineChatJoinRequest": self._decline_chat_join_request,
            "banChatMember": self._ban_chat_member,
            "unbanChatMember": self._unban_chat_member,
        }

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/control/users/{user_id}/join", self._control_join)
        router.add_post("/control/users/{user_id}/leave", self._control_leave)
        router.add_post("/control/users/{user_id}/withdraw", self._control_withdraw)

    # The Bot API -----------------------------------------------------------------------------------------

    async def _get_chat_member(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = self.emulator.chat_id_of(params)
        chat = self.emulator.chats.get(chat_id)
        if chat is None:
            raise BadRequest("Bad Request: chat not found")
        user_id = user_id_param(params)
        if user_id == BOT_ID:
            return _chat_member(chat, bot_user().model_dump(), "administrator" if chat.is_channel else "member")
        if user_id not in self.emulator.users:
            # Telegram finds only users the bot has met.
            raise BadRequest("Bad Request: user not found")
        if chat.is_channel:
            status = self.status(chat, user_id)
        else:
            status = "member" if user_id == chat_id else "left"
        return _chat_member(chat, self.emulator.users[user_id], status)

    async def _create_chat_invite_link(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._managed_channel(params, "Bad Request: can't invite members to a private chat")
        name = str(params.get("name") or "") or None
        # The Bot API clamps these before Telegram checks them.
        expire_date = max(int_param(params, "expire_date", 0), 0) or None
        member_limit = min(max(int_param(params, "member_limit", 0), 0), MAX_MEMBER_LIMIT + 1) or None
        creates_join_request = bool_param(params, "creates_join_request")
        if creates_join_request and member_limit:
            raise BadRequest("Bad Request: member limit can't be specified for links requiring administrator approval")
        if name and len(name) > MAX_LINK_NAME:
            raise BadRequest("Bad Request: INVITE_LINK_NAME_INVALID")
        if expire_date and expire_date <= time.time():
            raise BadRequest("Bad Request: EXPIRE_DATE_INVALID")
        if member_limit and member_limit > MAX_MEMBER_LIMIT:
            raise BadRequest("Bad Request: USAGE_LIMIT_INVALID")
        link = InviteLink(chat_id=chat.chat["id"], invite_link=INVITE_LINK_PREFIX + secrets.token_urlsafe(12),
                          name=name, expire_date=expire_date, member_limit=member_limit,
                          creates_join_request=creates_join_request)  # fmt: skip
        self.links[link.invite_link] = link
        return dump(link.model())

    async def _revoke_chat_invite_link(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._managed_channel(params, "Bad Request: can't invite members to a private chat")
        invite_link = str(params.get("invite_link") or "")
        if not invite_link:
            raise BadRequest("Bad Request: invite link must be non-empty")
        link = self.links.get(invite_link)
        if link is None or link.chat_id != chat.chat["id"]:
            raise BadRequest("Bad Request: INVITE_HASH_EXPIRED")
        link.is_revoked = True
        return dump(link.model())

    async def _approve_chat_join_request(self, params: dict[str, Any]) -> bool:
        chat, user = self._join_request(params)
        invite = self.links.get(chat.join_requests.pop(user["id"]) or "")
        await self.emulator.append(chat, "bot_approve_join_request", {"user_id": user["id"]})
        await self._becomes_member(chat, user, invite, approved=True)
        return True

    async def _decline_chat_join_request(self, params: dict[str, Any]) -> bool:
        chat, user = self._join_request(params)
        del chat.join_requests[user["id"]]
        await self.emulator.append(chat, "bot_decline_join_request", {"user_id": user["id"]})
        return True

    async def _ban_chat_member(self, params: dict[str, Any]) -> bool:
        chat = self._managed_channel(params, "Bad Request: can't ban members in private chats")
        user = self._member_to_manage(params)
        until_date = _ban_until(int_param(params, "until_date", 0))
        # revoke_messages changes nothing in a channel: members never wrote there.
        chat.join_requests.pop(user["id"], None)
        was_banned = self.status(chat, user["id"]) == "kicked"
        chat.banned_until[user["id"]] = until_date
        if not was_banned:
            await self._change(chat, user, "kicked", by_bot=True, kind="bot_ban", entry={"until_date": until_date})
        return True

    async def _unban_chat_member(self, params: dict[str, Any]) -> bool:
        chat = self._managed_channel(params, NOT_A_CHANNEL)
        user = self._member_to_manage(params)
        status = self.status(chat, user["id"])
        # Without only_if_banned Telegram guarantees the user is out but may join again: a member is removed.
        if status == "kicked" or (status == "member" and not bool_param(params, "only_if_banned")):
            await self._change(chat, user, "left", by_bot=True,
                               kind="bot_unban" if status == "kicked" else "bot_remove", entry={})  # fmt: skip
        chat.banned_until.pop(user["id"], None)
        return True

    def _managed_channel(self, params: dict[str, Any], not_channel: str) -> ChatLog:
        """The channel the bot administers named by ``chat_id``; ``not_channel`` is Telegram's word for others."""
        chat = self.emulator.chats.get(self.emulator.chat_id_of(params))
        if chat is None:
            raise BadRequest("Bad Request: chat not found")
        if not chat.is_channel:
            raise BadRequest(not_channel)
        return chat

    def _member_to_manage(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = user_id_param(params)
        if user_id == BOT_ID:
            raise BadRequest("Bad Request: user is an administrator of the chat")
        user = self.emulator.users.get(user_id)
        if user is None:
            raise BadRequest("Bad Request: user not found")
        return user

    def _join_request(self, params: dict[str, Any]) -> tuple[ChatLog, dict[str, Any]]:
        chat = self._managed_channel(params, NOT_A_CHANNEL)
        user_id = user_id_param(params)
        if user_id not in chat.join_requests:
            raise BadRequest("Bad Request: HIDE_REQUESTER_MISSING")
        return chat, self.emulator.users[user_id]

    # Users acting --------------------------------------------------------------------------------------

    async def join(self, user_id: int, chat_id: int, invite_link: str | None = None,
                   **profile: Any) -> dict[str, Any]:  # fmt: skip
        """A user joins a channel, through ``invite_link`` if given; refusals raise :class:`BadRequest`.

        Returns ``{"update_id": int | None, "status": "member" | "pending"}``; ``pending`` is a join request
        (its ``chat_join_request`` update id), None a join that changed nothing or a chat_member update the
        bot did not ask for.
        """
        chat = self._channel(chat_id, user_id)
        user = self.emulator.user(user_id, profile)
        status = self.status(chat, user_id)
        if status == "kicked":
            raise BadRequest(BANNED)
        invite = self._usable_link(chat, invite_link) if invite_link is not None else None
        if invite is None and chat.invite_only:
            raise BadRequest(INVITE_ONLY)
        if status == "member":
            return {"update_id": None, "status": "member"}  # Telegram reports changes only
        if invite is not None and invite.creates_join_request:
            return await self._request_to_join(chat, user, invite)
        return {"update_id": await self._becomes_member(chat, user, invite, approved=False), "status": "member"}

    async def withdraw(self, user_id: int, chat_id: int) -> dict[str, Any]:
        """A user cancels their pending join request; none pending raises :class:`BadRequest`. No update is sent."""
        chat = self._channel(chat_id, user_id)
        if chat.join_requests.pop(user_id, None) is None:
            raise BadRequest("Bad Request: no join request of this user is pending")
        await self.emulator.append(chat, "user_withdraw_join_request", {"user_id": user_id})
        return {"status": "left"}

    async def leave(self, user_id: int, chat_id: int, **profile: Any) -> dict[str, Any]:
        """A user leaves a channel (withdrawing a pending join request); returns ``{"update_id", "status"}``."""
        chat = self._channel(chat_id, user_id)
        user = self.emulator.user(user_id, profile)
        chat.join_requests.pop(user_id, None)
        status = self.status(chat, user_id)
        if status != "member":
            return {"update_id": None, "status": status}
        return {"update_id": await self._change(chat, user, "left", by_bot=False, kind="user_leave", entry={}),
                "status": "left"}  # fmt: skip

    def status(self, chat: ChatLog, user_id: int) -> str:
        """The user's status in a channel; a ban whose ``until_date`` has passed has ended."""
        status = chat.members.get(user_id, "left")
        until = chat.banned_until.get(user_id, 0)
        if status == "kicked" and until and until <= time.time():
            chat.members[user_id] = "left"
            del chat.banned_until[user_id]
            return "left"
        return status

    def _channel(self, chat_id: int, user_id: int) -> ChatLog:
        chat = self.emulator.chats.get(chat_id)
        if chat is None:
            raise BadRequest("Bad Request: chat not found")
        if not chat.is_channel:
            raise BadRequest("Bad Request: only channels can be joined or left")
        if user_id == BOT_ID:
            raise BadRequest("Bad Request: the bot stays the channel's administrator")
        return chat

    def _usable_link(self, chat: ChatLog, invite_link: str) -> InviteLink:
        link = self.links.get(invite_link)
        if link is None or link.chat_id != chat.chat["id"]:
            raise BadRequest(LINK_INVALID)
        refusal = link.refusal()
        if refusal is not None:
            raise BadRequest(refusal)
        return link

    async def _request_to_join(self, chat: ChatLog, user: dict[str, Any], invite: InviteLink) -> dict[str, Any]:
        if user["id"] in chat.join_requests:
            return {"update_id": None, "status": "pending"}
        chat.join_requests[user["id"]] = invite.invite_link
        # Telegram lets the bot write to the requester (user_chat_id) while the request is pending.
        self.emulator.private_chat(user)
        await self.emulator.append(chat, "user_join_request", {"user_id": user["id"],
                                                               "invite_link": invite.invite_link})  # fmt: skip
        request = ChatJoinRequest(chat=Chat.model_validate(chat.chat), from_user=User.model_validate(user),
                                  user_chat_id=user["id"], date=datetime.now(UTC), invite_link=invite.model())  # fmt: skip
        update = await self.emulator.enqueue(lambda update_id: Update(update_id=update_id, chat_join_request=request))
        return {**update, "status": "pending"}

    async def _becomes_member(self, chat: ChatLog, user: dict[str, Any], invite: InviteLink | None, *,
                              approved: bool) -> int | None:  # fmt: skip
        """The user is in: by themselves (through a link or not) or approved by the bot."""
        chat.join_requests.pop(user["id"], None)
        if invite is not None:
            invite.uses += 1
        entry = {"invite_link": invite.invite_link if invite else None, "approved": approved}
        return await self._change(chat, user, "member", by_bot=approved, kind="user_join", entry=entry, invite=invite)

    async def _change(self, chat: ChatLog, user: dict[str, Any], status: str, *, by_bot: bool, kind: str,
                      entry: dict[str, Any], invite: InviteLink | None = None) -> int | None:  # fmt: skip
        """Set the status, record ``kind`` in the channel's transcript and queue the chat_member update.

        ``from`` is who changed it: the user joining or leaving, or the bot (approving, banning, unbanning).
        """
        old = _member_object(chat, user, self.status(chat, user["id"]))
        chat.members[user["id"]] = status
        await self.emulator.append(chat, kind, {"user_id": user["id"], **entry})
        change = ChatMemberUpdated(
            chat=Chat.model_validate(chat.chat),
            from_user=bot_user() if by_bot else User.model_validate(user),
            date=datetime.now(UTC),
            old_chat_member=old,
            new_chat_member=_member_object(chat, user, status),
            invite_link=invite.model() if invite else None,
        )
        update = await self.emulator.enqueue(lambda update_id: Update(update_id=update_id, chat_member=change))
        return update["update_id"]  # type: ignore[no-any-return]

    # Control API ---------------------------------------------------------------------------------------

    async def _control_join(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        invite_link = body.get("invite_link")
        return ok_response(await self.join(int(request.match_info["user_id"]), int(body["chat_id"]),
                                           str(invite_link) if invite_link else None, **profile_of(body)))  # fmt: skip

    async def _control_leave(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        return ok_response(await self.leave(int(request.match_info["user_id"]), int(body["chat_id"]),
                                            **profile_of(body)))  # fmt: skip

    async def _control_withdraw(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        return ok_response(await self.withdraw(int(request.match_info["user_id"]), int(body["chat_id"])))


def _ban_until(until_date: int) -> int:
    """The ban's end as Telegram keeps it: 0 (forever) for one too short or too long to be a timed ban."""
    left = until_date - time.time()
    return until_date if SHORTEST_BAN <= left <= LONGEST_BAN else 0


def _moment(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _member_object(chat: ChatLog, user: dict[str, Any], status: str) -> Any:
    """The ChatMember of a user's status: member, kicked (with ``until_date``) or left."""
    as_user = User.model_validate(user)
    if status == "member":
        return ChatMemberMember(user=as_user)
    if status == "kicked":
        return ChatMemberBanned(user=as_user, until_date=_moment(chat.banned_until.get(user["id"], 0)))
    return ChatMemberLeft(user=as_user)


def _chat_member(chat: ChatLog, user: dict[str, Any], status: str) -> dict[str, Any]:
    """A ChatMember as getChatMember answers it; the bot administers channels with a channel's rights."""
    if status == "administrator":
        return dump(ChatMemberAdministrator(
            user=User.model_validate(user), can_be_edited=False, is_anonymous=False, can_manage_chat=True,
            can_delete_messages=True, can_manage_video_chats=True, can_restrict_members=True,
            can_promote_members=False, can_change_info=True, can_invite_users=True, can_post_stories=True,
            can_edit_stories=True, can_delete_stories=True, can_send_welcome_messages=False, can_post_messages=True,
            can_edit_messages=True))  # fmt: skip
    return dump(_member_object(chat, user, status))
