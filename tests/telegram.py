"""A Telegram user driven through the emulator's control API, as a test (or a person) would."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp


class EmulatedUser:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, user_id: int, *, first_name: str = "Ana",
                 language_code: str = "es", username: str | None = None) -> None:  # fmt: skip
        self.session = session
        self.base_url = base_url
        self.user_id = user_id
        self.profile: dict[str, Any] = {"first_name": first_name, "language_code": language_code}
        if username:
            self.profile["username"] = username
        self.seen = 0

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.session.post(self.base_url + path, json=body) as response:
            answer: dict[str, Any] = await response.json()
        if not answer["ok"]:
            raise AssertionError(f"control API refused {path}: {answer}")
        return answer["result"]  # type: ignore[no-any-return]

    async def send(self, text: str) -> dict[str, Any]:
        return await self._post(f"/control/users/{self.user_id}/messages", {"text": text, **self.profile})

    async def press(self, message_id: int, callback_data: str, *, chat_id: int | None = None,
                    forge: bool = False) -> dict[str, Any]:  # fmt: skip
        body = {"message_id": message_id, "callback_data": callback_data, "chat_id": chat_id, "forge": forge,
                **self.profile}  # fmt: skip
        return await self._post(f"/control/users/{self.user_id}/press", body)

    async def join(self, chat_id: int) -> dict[str, Any]:
        """Join a channel: ``{"update_id": int | None, "status": "member"}`` (None: no update was created)."""
        return await self._post(f"/control/users/{self.user_id}/join", {"chat_id": chat_id, **self.profile})

    async def leave(self, chat_id: int) -> dict[str, Any]:
        """Leave a channel: ``{"update_id": int | None, "status": "left"}``."""
        return await self._post(f"/control/users/{self.user_id}/leave", {"chat_id": chat_id, **self.profile})

    async def callback_answer(self, callback_query_id: str, *, within: float = 20.0) -> dict[str, Any]:
        """The bot's answer to a press (``text``, ``show_alert``, ``url``, ``cache_time``), once it has answered."""
        url = f"{self.base_url}/control/callbacks/{callback_query_id}"
        async with self.session.get(url, params={"wait": within}) as response:
            answer: dict[str, Any] = await response.json()
        if not answer["ok"] or not answer["result"]["answered"]:
            raise AssertionError(
                f"the bot did not answer callback query {callback_query_id} within {within}s: {answer}"
            )
        return answer["result"]["answer"]  # type: ignore[no-any-return]

    async def transcript(self, chat_id: int | None = None, after: int = 0, wait: float = 0) -> list[dict[str, Any]]:
        url = f"{self.base_url}/control/chats/{chat_id or self.user_id}/transcript"
        async with self.session.get(url, params={"after": after, "wait": wait}) as response:
            return (await response.json())["result"]  # type: ignore[no-any-return]

    async def next_from_bot(self, *kinds: str, within: float = 20.0) -> dict[str, Any]:
        """The next transcript entry of one of ``kinds`` (default: a message or an edit by the bot)."""
        kinds = kinds or ("bot_message", "bot_edit")
        deadline = asyncio.get_running_loop().time() + within
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            for entry in await self.transcript(after=self.seen, wait=min(left, 5)):
                self.seen = entry["seq"]
                if entry["kind"] in kinds:
                    return entry
        raise AssertionError(f"the bot sent no {kinds} within {within}s")

    @staticmethod
    def button(entry: dict[str, Any], label_part: str) -> str:
        for row in entry["buttons"]:
            for button in row:
                if label_part in button["text"]:
                    return str(button["callback_data"])
        raise AssertionError(f"no button containing {label_part!r} in {entry['buttons']}")
