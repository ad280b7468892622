"""What the emulator's parts share: the bot's identity, parameter reading and the answer shapes."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Final

import aiohttp
from aiogram.types import TelegramObject, User
from aiohttp import web

from tools.emulator.markup import BadRequest

BOT_ID: Final = 100000001
BOT_USERNAME: Final = "diana_emulated_bot"
# Telegram's answer to any query (callback or pre-checkout) that is unknown, answered or too late.
QUERY_TOO_OLD: Final = "Bad Request: query is too old and response timeout expired or query ID is invalid"

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


def bot_user() -> User:
    return User(id=BOT_ID, is_bot=True, first_name="Diana", username=BOT_USERNAME)


def dump(value: TelegramObject) -> dict[str, Any]:
    """A Bot API object as Telegram sends it: JSON types, no null fields, ``from`` for ``from_user``."""
    return value.model_dump(mode="json", exclude_none=True, by_alias=True)


def ok_response(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def error_response(code: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


def not_found(what: str) -> web.Response:
    return error_response(404, f"Not Found: no {what} with that id")


def int_param(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(f'Bad Request: field "{name}" must be a valid Number') from None


def bool_param(params: dict[str, Any], name: str) -> bool:
    """A Boolean as the Bot API reads it: JSON true, or the strings "true", "yes" and "1" in any case."""
    value = params.get(name)
    return value is True or str(value).strip().lower() in {"true", "yes", "1"}


def required_str(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise BadRequest(f'Bad Request: parameter "{name}" is required')
    return str(value)


def user_id_param(params: dict[str, Any]) -> int:
    user_id = int_param(params, "user_id", 0)
    if user_id <= 0:
        raise BadRequest("Bad Request: invalid user_id specified")
    return user_id


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, aiohttp.ContentTypeError):
        return {}
    return body if isinstance(body, dict) else {}


def profile_of(body: dict[str, Any]) -> dict[str, Any]:
    """The user's profile fields a control request may carry."""
    return {k: body[k] for k in ("first_name", "last_name", "username", "language_code") if k in body}


def buttons_of(message: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """An inline keyboard as a transcript shows it."""
    return [[{"text": b.get("text"), "callback_data": b.get("callback_data"), "url": b.get("url")} for b in row]
            for row in message.get("reply_markup", {}).get("inline_keyboard", [])]  # fmt: skip
