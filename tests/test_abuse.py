"""Abuse and security: rate limits, forged and malformed input, escaping, admin paths, webhook secret, SQL, secrets.

Already covered elsewhere (not repeated here): forged, unknown, stale and other users' buttons through the
real bot (``test_end_to_end.py::test_bad_buttons_get_a_clear_answer_and_change_nothing``), oversized and
foreign requests never entering the history (``test_journey_workflow.py::TestBadInputChangesNothing``),
a POST without or with a wrong secret token refused in webhook mode
(``test_end_to_end.py::test_webhook_mode_requires_the_secret_token``), names escaped in the introduction
(``test_end_to_end.py::test_start_onboarding_menu_and_mis_besitos``, ``test_texts.py``).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import pkgutil
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final, cast

import aiohttp
import asyncpg
import pytest
from aiogram import Dispatcher, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.types import Update
from pydantic import SecretStr, ValidationError
from redis.asyncio import Redis
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters.texts import t
from bot import build_dispatcher
from bot.admins import AdminGate, AdminOnly
from bot.rate_limit import KEY_PREFIX, RateLimit
from bot.telemetry import REFUSED_ADMIN_ATTEMPT
from infra.connections import create_redis
from infra.settings import EMULATOR_BOT_TOKEN, EMULATOR_COMMUNITY_CHANNEL, Settings
from infra.telemetry import REGISTRY
from tests import hermetic
from tests.bot_process import BotProcesses, bot_messages, bots_fixture  # noqa: F401 -- the fixture
from tests.helpers import REPO_ROOT, Samples, eventually, new_user_id, scrape_metrics, settled, webhook_environment
from tests.sql_audit import audit_file
from tests.telegram import EmulatedUser, onboard
from tests.test_end_to_end import bot_environment, start_bot
from tools.emulator import BotAPIEmulator
from tools.stack import free_port
from workflows.contracts import LEADERBOARD_NAMES, JourneyState
from workflows.journey import JourneyWorkflow, journey_id

ADMIN: Final = 4_100_001
UNKNOWN_BUTTON: Final = t("reject.UnknownAction")


# Rate limit -----------------------------------------------------------------------------------------------


class RecordingBot:
    """Stands in for aiogram's Bot: records what the rate limit says to the user."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []
        self.alerts: list[tuple[str, str, bool]] = []

    async def send_message(self, chat_id: int, text: str) -> None:
        self.sent.append((chat_id, text))

    async def answer_callback_query(self, callback_query_id: str, text: str, show_alert: bool = False) -> None:
        self.alerts.append((callback_query_id, text, show_alert))


def user_json(user_id: int, language: str = "es") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Ana", "language_code": language}


def message_update(update_id: int, user_id: int, **extra: Any) -> Update:
    message = {"message_id": update_id, "date": 0, "chat": {"id": user_id, "type": "private"},
               "from": user_json(user_id), "text": "hola", **extra}  # fmt: skip
    return Update.model_validate({"update_id": update_id, "message": message})


def press_update(update_id: int, user_id: int) -> Update:
    query = {"id": f"q{update_id}", "from": user_json(user_id), "chat_instance": "c", "data": "j:menu:1"}
    return Update.model_validate({"update_id": update_id, "callback_query": query})


async def feed(limit: RateLimit, updates: list[Update], bot: RecordingBot) -> list[int]:
    """The update ids the limit lets through to the handlers."""
    handled: list[int] = []

    async def handler(event: Any, data: dict[str, Any]) -> None:
        handled.append(event.update_id)

    for update in updates:
        user = update.message.from_user if update.message else update.callback_query.from_user  # type: ignore[union-attr]
        await limit(handler, update, {"event_from_user": user, "bot": bot})
    return handled


def limited(outcome: str) -> float:
    """``diana_rate_limited_updates`` for ``outcome``, as the bot's /metrics shows it."""
    return REGISTRY.get_sample_value("diana_rate_limited_updates_total", {"outcome": outcome}) or 0.0


class TestRateLimit:
    async def test_a_flood_gets_one_friendly_answer_and_is_dropped(self, redis: Redis) -> None:
        limit = RateLimit(redis, updates=3, window=60)
        bot, user, other = RecordingBot(), new_user_id(), new_user_id()
        before = {outcome: limited(outcome) for outcome in ("answered", "dropped")}
        handled = await feed(limit, [message_update(n, user) for n in range(1, 8)], bot)
        assert handled == [1, 2, 3]
        assert {outcome: limited(outcome) - before[outcome] for outcome in before} == {"answered": 1, "dropped": 3}
        assert bot.sent == [(user, t("rate_limit.slow_down", seconds=60))], "one answer per window, however long"
        assert 0 < await redis.ttl(f"{KEY_PREFIX}{user}") <= 60, "the window ends by itself"
        # Someone else is not held back; a press over the limit gets its answer as an alert.
        assert await feed(limit, [message_update(10, other)], bot) == [10]
        others = [press_update(n, other) for n in range(11, 15)]
        assert await feed(limit, others, bot) == [11, 12]
        assert bot.alerts == [("q13", t("rate_limit.slow_down", seconds=60), True)]

    async def test_payments_and_admins_are_never_limited(self, redis: Redis) -> None:
        user = new_user_id()
        limit = RateLimit(redis, updates=1, window=60, exempt=frozenset({ADMIN}))
        payment = {"currency": "XTR", "total_amount": 250, "invoice_payload": "p",
                   "telegram_payment_charge_id": "c", "provider_payment_charge_id": ""}  # fmt: skip
        paid = [message_update(n, user, successful_payment=payment) for n in range(1, 4)]
        bot = RecordingBot()
        assert await feed(limit, [message_update(9, user), *paid], bot) == [9, 1, 2, 3]
        assert await feed(limit, [message_update(n, ADMIN) for n in range(20, 25)], bot) == list(range(20, 25))
        assert bot.sent == []

    async def test_with_redis_down_every_update_passes_and_the_outage_is_logged_once(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        down = create_redis(f"redis://127.0.0.1:{free_port()}/0")
        try:
            limit = RateLimit(down, updates=1, window=60)
            unchecked = limited("unchecked")
            with caplog.at_level(logging.WARNING, logger="diana.bot"):
                handled = await feed(limit, [message_update(n, new_user_id()) for n in range(1, 6)], RecordingBot())
        finally:
            await down.aclose()
        assert handled == [1, 2, 3, 4, 5]
        assert limited("unchecked") == unchecked + 5, "what passed unchecked shows in the metrics"
        assert [r.message for r in caplog.records if "rate limit" in r.message] == [
            caplog.records[0].message
        ] and "Redis unavailable" in caplog.records[0].message


async def test_the_real_bot_answers_a_flood_once_and_the_journey_sees_only_the_limit(
    worker: Worker, database: str, redis_server: str, emulator: BotAPIEmulator, http: aiohttp.ClientSession,
    client: Client, bots: BotProcesses,
) -> None:  # fmt: skip
    bots.start(database, redis_server, RATE_LIMIT_UPDATES="4", RATE_LIMIT_WINDOW_SECONDS="600")
    user = EmulatedUser(http, emulator.base_url, new_user_id())
    await user.send("/start")
    await user.next_from_bot("bot_message", within=60)
    for _ in range(6):
        await user.send("hola")

    async def answered() -> list[dict[str, Any]]:
        messages = bot_messages(await user.transcript())
        return messages if len(messages) >= 5 else []

    await eventually(answered, within=30)
    await asyncio.sleep(2)  # room for an answer that should not come
    texts = [message["text"] for message in bot_messages(await user.transcript())]
    slow_down = t("rate_limit.slow_down", seconds=600)
    assert len(texts) == 5 and texts.count(slow_down) == 1, (
        "four answers from the journey and one request to slow down, in any order; the other two are dropped"
    )
    state: JourneyState = await client.get_workflow_handle(journey_id(user.user_id)).query(
        JourneyWorkflow.current_state
    )
    assert len(state.recent_deliveries) == 4, "the dropped updates never reached the journey"
    # Someone else writing at the same time is not held back.
    other = EmulatedUser(http, emulator.base_url, new_user_id())
    await other.send("/start")
    assert "Soy Diana" in (await other.next_from_bot("bot_message", within=30))["text"]


# Forged, malformed and oversized input through the real bot ------------------------------------------------


@pytest.fixture
async def abuse_bot(worker: Worker, database: str, redis_server: str, bots: BotProcesses) -> str:
    """One bot with an admin configured (everyone else in these tests is not one), stopped before its database goes.

    It is the URL of the bot's /health, /ready and /metrics.
    """
    port = free_port()
    bots.start(
        database,
        redis_server,
        ADMIN_IDS=str(ADMIN),
        RATE_LIMIT_UPDATES="0",
        COMMUNITY_CHANNEL_IDS=str(EMULATOR_COMMUNITY_CHANNEL),
        BOT_HEALTH_PORT=str(port),
    )
    return f"http://127.0.0.1:{port}"


MALFORMED_CALLBACKS: Final = [
    "j:menu",  # a field missing
    "j:menu:uno",  # a screen that is not a number
    "j:menu:1:extra",  # a field too many
    "j:" + "x" * 60,  # the whole 64 bytes, nonsense
    "j:besitos:-1",
    "r:corazón",  # a reaction that is not a number
    "j:pick.f99.nada:1",  # a story choice that does not exist
    "j:buy.eterno:1",  # a VIP plan that does not exist
    "\x00\x01",
]


async def test_malformed_callback_data_and_replayed_buttons_change_nothing(
    abuse_bot: str, emulator: BotAPIEmulator, http: aiohttp.ClientSession, client: Client,
    pool: asyncpg.Pool,
) -> None:  # fmt: skip
    user = EmulatedUser(http, emulator.base_url, new_user_id())
    menu = await onboard(user)
    before = await settled(client, user.user_id, within=30)
    ledger = await pool.fetch("SELECT * FROM besitos_ledger WHERE telegram_user_id = $1 ORDER BY id", user.user_id)
    for data in MALFORMED_CALLBACKS:
        await user.press(menu["message_id"], data, forge=True)
        answer = await user.next_from_bot("callback_answer")
        assert answer["show_alert"], data
        assert answer["text"] in (UNKNOWN_BUTTON, t("reject.StaleScreen")), (data, answer["text"])
    # A button pressed again (a replay of the press that opened the menu): the screen it belongs to is gone.
    for _ in range(2):
        await user.press(menu["message_id"], user.button(menu, "Mis Besitos"))
    await user.next_from_bot("bot_edit")
    replayed = await user.next_from_bot("callback_answer")
    assert replayed["text"] == t("reject.StaleScreen")
    after = await settled(client, user.user_id, within=30)
    assert after.model_dump(exclude={"screen", "screen_seq", "recent_deliveries", "last_seen"}) == before.model_dump(
        exclude={"screen", "screen_seq", "recent_deliveries", "last_seen"}
    ), "only the one real press changed the screen"
    assert after.screen_seq == before.screen_seq + 1
    assert (
        await pool.fetch("SELECT * FROM besitos_ledger WHERE telegram_user_id = $1 ORDER BY id", user.user_id) == ledger
    )


async def test_oversized_and_malformed_text_get_a_clear_answer(
    abuse_bot: str, emulator: BotAPIEmulator, http: aiohttp.ClientSession, client: Client,
) -> None:  # fmt: skip
    user = EmulatedUser(http, emulator.base_url, new_user_id())
    await onboard(user)
    before = await settled(client, user.user_id, within=30)
    await user.send("a" * 5000)  # more than Telegram's 4096: only a forged update carries it
    assert (await user.next_from_bot("bot_message"))["text"] == t("reject.InvalidInput")
    assert (await settled(client, user.user_id, within=30)).screen_seq == before.screen_seq, "nothing changed"
    for text in ("a" * 4096, "\x00\x07\x1b[31m", "\u202eevil\u202c", "💋" * 2000, " ", "/"):
        await user.send(text)
        answer = await user.next_from_bot("bot_message")
        assert "Me gusta que me hables" in answer["text"], (text[:20], answer["text"])
    await user.send("hola \ud800 Diana")  # a lone UTF-16 surrogate: no Telegram client sends one
    assert (await user.next_from_bot("bot_message"))["text"] == t("reject.InvalidInput")
    await user.send("sigo aquí")
    assert "Me gusta que me hables" in (await user.next_from_bot("bot_message"))["text"], "the chat goes on"
    state = await settled(client, user.user_id, within=30)
    assert state.besitos == before.besitos and state.stage == "active"


async def test_html_in_names_and_text_is_shown_escaped(
    abuse_bot: str, emulator: BotAPIEmulator, http: aiohttp.ClientSession, redis: Redis,
) -> None:  # fmt: skip
    name = "<b>Ana</b> & <script>"
    user = EmulatedUser(http, emulator.base_url, new_user_id(), first_name=name)
    await user.send("/start")
    intro = await user.next_from_bot("bot_message", within=60)
    assert f"Hola, {name}." in intro["text"], "shown as typed"
    assert "&lt;b&gt;Ana&lt;/b&gt; &amp; &lt;script&gt;" in intro["html"]
    assert not [e for e in intro.get("entities", []) if e["type"] == "bold" and e["length"] == 3]
    menu = intro
    for _ in range(3):
        await user.press(menu["message_id"], user.button(menu, "Continuar" if "Continuar" in str(menu["buttons"])
                                                         else "Entrar"))  # fmt: skip
        menu = await user.next_from_bot("bot_edit")

    async def on_the_board() -> bool:
        return bool(await redis.hget(LEADERBOARD_NAMES, str(user.user_id)))

    await eventually(on_the_board, within=30)
    await user.press(menu["message_id"], user.button(menu, "Ranking"))
    ranking = await user.next_from_bot("bot_edit")
    assert name in ranking["text"] and "&lt;b&gt;Ana&lt;/b&gt;" in ranking["html"]

    await user.send("<script>alert('besitos')</script><b>")
    answer = await user.next_from_bot("bot_message")
    assert "Me gusta que me hables" in answer["text"], "HTML a user writes is text, never markup"

    # What an admin publishes goes out exactly as typed.
    admin = EmulatedUser(http, emulator.base_url, ADMIN, first_name="Admin")
    await admin.send("/publicar <script>alert(1)</script> <b>no es negrita</b> & más")
    done = await admin.next_from_bot("bot_message")
    assert "Publicado" in done["text"], done["text"]
    post = bot_messages(await admin.transcript(chat_id=EMULATOR_COMMUNITY_CHANNEL))[-1]
    assert post["text"] == "<script>alert(1)</script> <b>no es negrita</b> & más" and not post["entities"]


# Admin paths ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdminPath:
    """A way into an admin feature: a command (with its aliases) or a button, and what its refusal is audited as."""

    kind: str  # "command" or "button"
    trigger: str  # the command name, or packed callback data
    audited_as: str
    router: str  # the name of the feature's router


def _routers(router: Router) -> Iterator[Router]:
    yield router
    for child in router.sub_routers:
        yield from _routers(child)


def _forged(check: CallbackQueryFilter, source: str) -> str:
    """Callback data the handler's filter takes: placeholders, or words from its module where its rule asks."""
    data_class = check.callback_data
    values: dict[str, object] = {
        name: 1 if field.annotation in (int, "int") else "x1" for name, field in data_class.model_fields.items()
    }
    if check.rule is None:
        return data_class(**values).pack()
    words = sorted(set(re.findall(r'"([a-z_.]{1,24})"', source)))
    for name, field in data_class.model_fields.items():
        if field.annotation not in (str, "str"):
            continue
        for word in words:
            candidate = data_class(**{**values, name: word})
            if check.rule.resolve(candidate):
                return candidate.pack()
    raise AssertionError(f"no forged {data_class.__name__} passes its handler's filter")


@cache
def admin_paths() -> list[AdminPath]:
    """Every command and button whose handler is flagged ``AdminOnly``, read from the routers the bot runs."""
    settings = Settings(_env_file=None, ADMIN_IDS=str(ADMIN))
    dispatcher: Dispatcher = build_dispatcher(cast(Any, None), settings=settings, pool=cast(Any, None),
                                              redis=Redis())  # fmt: skip
    paths: list[AdminPath] = []
    for router in _routers(dispatcher):
        for observer, kind in ((router.message, "command"), (router.callback_query, "button")):
            for handler in observer.handlers:
                gate = handler.flags.get("admin")
                if not isinstance(gate, AdminOnly):
                    continue
                # A flag is only a label: the router must carry the gate that reads it.
                assert any(isinstance(middleware, AdminGate) for middleware in observer.middleware), router.name
                action = f"{gate.action} refused"
                for filter_object in handler.filters or []:
                    check = filter_object.callback
                    if kind == "command" and isinstance(check, Command):
                        paths += [AdminPath(kind, str(name), action, router.name) for name in check.commands]
                    elif kind == "button" and isinstance(check, CallbackQueryFilter):
                        source = inspect.getsource(inspect.getmodule(handler.callback))  # type: ignore[arg-type]
                        paths.append(AdminPath(kind, _forged(check, source), action, router.name))
    # The routers are module singletons: free them for the next dispatcher a test builds in this process.
    for router in list(dispatcher.sub_routers):
        dispatcher.sub_routers.remove(router)
        router._parent_router = None
    return paths


def guarded_routers() -> list[Router]:
    """The routers of the bot's modules that carry the admin gate: every feature with an admin path."""
    import bot

    routers = []
    for module_info in pkgutil.iter_modules(bot.__path__, "bot."):
        router = getattr(importlib.import_module(module_info.name), "router", None)
        if isinstance(router, Router) and any(isinstance(middleware, AdminGate)
                                              for observer in router.observers.values() for middleware in observer.middleware):  # fmt: skip
            routers.append(router)
    return routers


def test_nothing_in_an_admin_feature_runs_for_everyone_unless_listed() -> None:
    """A handler added to an admin feature without the flag is caught here, not by a user."""
    from bot.admin_panel import FromAdmin

    # Each feature's handlers for everyone, and why. A new handler in these routers is an admin's until listed.
    open_to_all = {
        "bot.admin_panel.panel_for_others": "/admin from anyone else: the usual menu (the gate audits it first)",
        "bot.vip.redeem_pass": "a VIP pass link, redeemed by whoever an admin gave it to",
        "bot.vip.pre_checkout": "Telegram's check before a user pays",
        "bot.vip.paid": "a user's payment",
        "bot.vip.refunded": "Telegram's notice of a refund, for the user refunded",
        "bot.vip.join_request": "a user asking into the VIP channel",
        "bot.vip.vip_channel_member": "the VIP channel's member updates",
        "bot.vip.pay_support": "/paysupport, Telegram's required payment help",
        "bot.community.react": "a reaction button under a channel post",
        "bot.community.membership": "the community channel's member updates",
        "bot.door.free_join_request": "a user asking into a free channel",
    }
    routers = guarded_routers()
    assert {router.name for router in routers} == {"bot.admin_orders", "bot.admin_panel", "bot.admin_users",
                                                    "bot.auction_admin", "bot.door",
                                                   "bot.broadcasts", "bot.community", "bot.media", "bot.vip"}  # fmt: skip
    ungated, listed = [], set()
    for router in routers:
        for observer in router.observers.values():
            for handler in observer.handlers:
                name = f"{router.name}.{handler.callback.__name__}"
                flagged = isinstance(handler.flags.get("admin"), AdminOnly)
                if flagged:
                    # Whatever the event, the gate must be there to read the flag.
                    assert any(isinstance(middleware, AdminGate) for middleware in observer.middleware), name
                # Uploads: a non-admin's document falls through to "unsupported", as any other file does.
                from_admins = any(isinstance(check.callback, FromAdmin) for check in handler.filters or [])
                if name in open_to_all:
                    listed.add(name)
                elif not (flagged or from_admins):
                    ungated.append(name)
    assert not ungated, f"admin handlers without AdminOnly: {ungated}"
    assert listed == set(open_to_all), f"listed but gone: {set(open_to_all) - listed}"


def test_every_admin_command_is_found() -> None:
    """The enumeration the end-to-end test walks must not silently find nothing."""
    commands = {path.trigger for path in admin_paths() if path.kind == "command"}
    # A new admin command joins this list, and so the walk below.
    assert commands == {"admin", "publicar", "publish", "reembolsar", "refund", "pase", "vippass", "difundir", "broadcast",
                        "difusion", "broadcaststatus", "usuario", "user", "dar", "grant", "media", "vender",
                        "sell", "subasta", "auction", "subastas", "auctions", "solicitudes", "requests", "puerta",
                        "door"}  # fmt: skip
    buttons = sorted(path.audited_as for path in admin_paths() if path.kind == "button")
    assert buttons == ["admin panel refused", "auction cancel refused", "auction cancel refused", "auction refused",
                       "broadcast refused", "broadcast status refused", "door requests refused", "grant refused",
                       "order refund refused",
                       "orders refused", "user change refused"]  # fmt: skip


async def test_non_admins_are_refused_and_audited_on_every_admin_path(
    abuse_bot: str, emulator: BotAPIEmulator, http: aiohttp.ClientSession, pool: asyncpg.Pool,
) -> None:  # fmt: skip
    fan = EmulatedUser(http, emulator.base_url, new_user_id(), first_name="Lola")
    menu = await onboard(fan)
    actor = f"user:{fan.user_id}"

    async def audited(action: str) -> int:
        count: int = await pool.fetchval("SELECT count(*) FROM audit_log WHERE actor = $1 AND action = $2", actor,
                                         action)  # fmt: skip
        return count

    paths = admin_paths()
    admin_routers = {path.router for path in paths}

    def handled(samples: Samples) -> Counter[tuple[str, str]]:
        """Updates each admin feature's handlers took, as the bot's /metrics counts them (the onboarding's last
        press may still be counting as the walk starts: other features are left out)."""
        return Counter({(labels["router"], labels["handler"]): value for (name, label_set), value in samples.items()
                        if name == "diana_update_handling_seconds_count" and value
                        for labels in [dict(label_set)] if labels["router"] in admin_routers})  # fmt: skip

    _, before_walk = await scrape_metrics(http, abuse_bot)
    failures: list[str] = []
    for path in paths:
        before = await audited(path.audited_as)
        if path.kind == "command":
            await fan.send(f"/{path.trigger} {fan.user_id} stx-1 porque sí")
            answer = await fan.next_from_bot("bot_message")
            refused = answer["text"] == t("admin.refused") or (
                path.trigger == "admin" and "Panel de administración" not in answer["text"]
            )
        else:
            pressed = await fan.press(menu["message_id"], path.trigger, forge=True)
            answer = await fan.callback_answer(pressed["callback_query_id"])
            refused = bool(answer["show_alert"]) and answer["text"] == t("admin.refused")
        if not refused:
            failures.append(f"{path}: answered {answer['text']!r}")
        if await audited(path.audited_as) != before + 1:
            failures.append(f"{path}: not audited once")
    assert not failures, "\n".join(failures)

    # The handlers' latency is theirs alone: each refusal counts apart, and only /admin's fall-through ran.
    async def counted() -> Counter[tuple[str, str]] | None:
        _, after_walk = await scrape_metrics(http, abuse_bot)
        taken = handled(after_walk) - handled(before_walk)
        return taken if taken.total() == len(paths) + 1 else None

    assert (await eventually(counted)) == Counter({("bot.admin_panel", "panel_for_others"): 1}) + Counter(
        {(router, REFUSED_ADMIN_ATTEMPT): n for router, n in Counter(path.router for path in paths).items()})  # fmt: skip

    # Nothing an admin path does happened.
    assert not bot_messages(await fan.transcript(chat_id=EMULATOR_COMMUNITY_CHANNEL)), "nothing was published"
    assert not [call for call in emulator.calls if call["method"] == "refundStarPayment"], "nothing was refunded"
    assert await pool.fetchval("SELECT count(*) FROM vip_passes") == 0, "no pass was made"
    assert await pool.fetchval("SELECT count(*) FROM broadcasts") == 0, "no broadcast was started"
    # A content file from a non-admin is not an upload: the bot says what it understands.
    versions = await pool.fetchval("SELECT count(*) FROM content_versions")
    await fan.send_document("diana.yaml", b"fragments: []\n")
    assert (await fan.next_from_bot("bot_message"))["text"] == t("unsupported")
    assert await pool.fetchval("SELECT count(*) FROM content_versions") == versions, "nothing was stored"


# Webhook secret -------------------------------------------------------------------------------------------


async def test_webhook_mode_without_a_secret_refuses_to_start_unless_told_to(
    emulator: BotAPIEmulator, temporal_env: WorkflowEnvironment, task_queue: str, database: str, redis_server: str,
) -> None:  # fmt: skip
    env = bot_environment(emulator, temporal_env, task_queue, database, redis_server,
                          **webhook_environment(secret=""))  # fmt: skip
    refused = await asyncio.to_thread(hermetic.run_diana, ["-m", "tools.cli", "bot"], env, capture_output=True,
                                      timeout=60)  # fmt: skip
    assert refused.returncode != 0
    assert b"needs WEBHOOK_SECRET" in refused.stderr
    assert emulator.webhook is None, "no webhook was set"

    env["WEBHOOK_SECRET_REQUIRED"] = "false"
    process = start_bot(env)
    try:

        async def webhook_set() -> bool:
            return emulator.webhook is not None

        await eventually(webhook_set, within=60)
        assert emulator.webhook is not None and emulator.webhook["secret_token"] is None
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 15)


# SQL and secrets in the source ----------------------------------------------------------------------------

# Audited exceptions: the query text comes from the repository itself, and identifiers cannot be parameters.
SQL_ALLOWED: Final = {
    ("infra/migrate.py", "migrate"): "the migration files under infra/migrations/, versioned with the code",
    ("tests/conftest.py", "database"): "CREATE/DROP DATABASE of the test's own uuid-named database",
}


def python_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
                            cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    return [REPO_ROOT / name for name in listed if (REPO_ROOT / name).is_file()]


def test_every_query_is_parameterised() -> None:
    findings = [finding for path in python_files() for finding in audit_file(REPO_ROOT, path)
                if (finding.path, finding.function) not in SQL_ALLOWED]  # fmt: skip
    assert not findings, "SQL built from runtime values (use $1, $2... parameters):\n" + "\n".join(map(str, findings))
    still_needed = {(finding.path, finding.function) for path in python_files() for finding in
                    audit_file(REPO_ROOT, path)}  # fmt: skip
    assert set(SQL_ALLOWED) <= still_needed, "an allowed exception is gone: take it off the list"


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        ("async def f(conn, name):\n    await conn.execute(f'SELECT * FROM users WHERE name = {name}')", True),
        ("async def f(conn, name):\n    await conn.fetch('SELECT * FROM users WHERE name = ' + name)", True),
        ("async def f(conn, name):\n    await conn.fetchval('SELECT %s' % name)", True),
        ("async def f(conn, name):\n    await conn.fetchrow('SELECT {}'.format(name))", True),
        (
            "async def f(conn, name):\n    sql = f'DELETE FROM users WHERE name = {name}'\n    await conn.execute(sql)",
            True,
        ),
        ("def f(name):\n    return f'UPDATE users SET name = {name}'", True),
        ("async def f(conn, sql):\n    await conn.execute(sql)", True),
        ("async def f(conn, name):\n    await conn.fetch('SELECT * FROM users WHERE name = $1', name)", False),
        ("T = 'users'\nasync def f(conn):\n    await conn.fetch(f'SELECT * FROM {T}')", False),
        ("async def f(conn):\n    for t in ('a', 'b'):\n        await conn.execute(f'DELETE FROM {t}')", False),
        ("async def f(conn):\n    await conn.fetch('SELECT 1 ' + ('x' if conn else 'y'))", False),
        ("def f(name):\n    return f'Hello {name}, SELECT a plan'", False),
    ],
)
def test_the_sql_audit_tells_built_from_fixed_text(tmp_path: Path, source: str, caught: bool) -> None:
    path = tmp_path / "sample.py"
    path.write_text(source + "\n")
    assert bool(audit_file(tmp_path, path)) == caught


TOKEN_LIKE: Final = re.compile(rb"\d{6,}:[A-Za-z0-9_-]{30,}")
# Audited: token-shaped strings that are no one's token.
TOKENS_ALLOWED: Final = {
    # The example token of Telegram's own Bot API documentation; a test checks it never reaches the logs.
    (b"tests/test_observability.py", b"AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"),
}


def test_no_bot_token_or_password_is_in_the_repository() -> None:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    leaks = []
    for name in filter(None, listed.decode().split("\0")):
        path = REPO_ROOT / name
        if not path.is_file() or path.suffix in (".whl", ".png", ".jpg"):
            continue
        leaks += [f"{name}: {match.group().decode()[:12]}…" for match in TOKEN_LIKE.finditer(path.read_bytes())
                  if (name.encode(), match.group().partition(b":")[2]) not in TOKENS_ALLOWED]  # fmt: skip
    assert not leaks, "token-like strings in tracked files:\n" + "\n".join(leaks)
    assert not TOKEN_LIKE.search(EMULATOR_BOT_TOKEN.encode()), "the emulator's token is plainly not a real one"
    # docker-compose takes every secret from the environment of whoever runs it.
    compose = (REPO_ROOT / "docker-compose.yml").read_text()
    secrets = re.findall(r"^\s*(\w*(?:PASSWORD|PWD|TOKEN|SECRET)\w*):\s*(.+)$", compose, re.MULTILINE)
    assert secrets and all(value.startswith("${") and ":?" in value for _, value in secrets), secrets


def test_secrets_come_from_the_environment_and_never_show(monkeypatch: pytest.MonkeyPatch) -> None:
    # Built here, so this file holds no token-like literal itself.
    token = "123456789:" + "AAF-real-looking-token-" + "from-botfather-x"
    secrets: dict[str, Any] = {"TELEGRAM_BOT_TOKEN": token,
               "WEBHOOK_SECRET": "webhook-s3cret", "DATABASE_URL": "postgresql://diana:pg-s3cret@db:5432/diana",
               "REDIS_URL": "redis://:redis-s3cret@cache:6379/0", "TEMPORAL_ADDRESS": "diana.a1b2c.tmprl.cloud:7233",
               "TEMPORAL_API_KEY": "tmprl-api-key-s3cret"}  # fmt: skip
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert settings.bot_token == secrets["TELEGRAM_BOT_TOKEN"]
    assert settings.postgres_dsn == secrets["DATABASE_URL"] and settings.redis_dsn == secrets["REDIS_URL"]
    assert settings.webhook_secret is not None and settings.webhook_secret.get_secret_value() == "webhook-s3cret"
    for field in ("telegram_bot_token", "webhook_secret", "database_url", "redis_url", "temporal_api_key"):
        assert isinstance(getattr(settings, field), SecretStr), field
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    for hidden in ("AAF-real-looking", "webhook-s3cret", "pg-s3cret", "redis-s3cret", "tmprl-api-key"):
        assert hidden not in shown, hidden
    # A deployment with one wrong value is told which, and its secrets stay out of the message.
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, TEMPORAL_TLS="false", **secrets)  # given last: pydantic quotes the start and the end
    assert "TEMPORAL_TLS=false contradicts TEMPORAL_API_KEY" in str(refused.value)
    for hidden in ("AAF-real-looking", "from-botfather", "s3cret"):
        assert hidden not in str(refused.value), hidden
