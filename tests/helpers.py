"""Building journey requests the way the bot does."""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from adapters.content_store import read_content_file
from tools.stack import free_port
from workflows.content import Content
from workflows.contracts import JourneyRequest, JourneyState, RequestKind, TelegramProfile
from workflows.journey import JourneyWorkflow, journey_id

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parent.parent
_update_ids = itertools.count(1_000)
_user_ids = itertools.count(7_000_001)


def webhook_environment(secret: str = "s3cret-of-the-hook") -> dict[str, str]:
    """A bot in webhook mode on a free port, as deployed (its TLS proxy left out: plain HTTP here)."""
    port = free_port()
    return {"BOT_MODE": "webhook", "WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
            "WEBHOOK_LISTEN_PORT": str(port), "WEBHOOK_SECRET": secret}  # fmt: skip


def new_user_id() -> int:
    """A Telegram user id no other test in this session uses."""
    return next(_user_ids)


async def eventually(check: Callable[[], Awaitable[T]], *, within: float = 15.0, interval: float = 0.1) -> T:
    """Poll ``check`` until it returns a truthy value (projections and visibility are asynchronous)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s (last result: {result!r})")
        await asyncio.sleep(interval)


async def settled(client: Client, user_id: int, *, within: float = 15.0) -> JourneyState:
    """The journey's state once it has carried out every effect it queued."""
    handle = client.get_workflow_handle(journey_id(user_id))

    async def quiet() -> JourneyState | None:
        state: JourneyState = await handle.query(JourneyWorkflow.current_state)
        return None if state.pending_effects else state

    state = await eventually(quiet, within=within)
    assert state is not None
    return state


def request(
    user_id: int,
    kind: RequestKind,
    *,
    action: str = "",
    screen: int = 0,
    text: str = "",
    update_id: int | None = None,
    first_name: str = "Ana",
    language_code: str | None = "es",
) -> JourneyRequest:
    return JourneyRequest(
        update_id=update_id if update_id is not None else next(_update_ids),
        user_id=user_id,
        kind=kind,
        action=action,
        screen=screen,
        text=text,
        profile=TelegramProfile(user_id=user_id, first_name=first_name, username="ana", language_code=language_code),
    )


@functools.cache
def shipped_content() -> Content:
    """The content shipped in ``content/diana.yaml``, checked like CI checks it."""
    return read_content_file(REPO_ROOT / "content" / "diana.yaml").content


async def http_receiver(
    route: str, handle: Callable[[web.Request], Awaitable[web.Response]]
) -> tuple[web.AppRunner, int]:
    """A local HTTP endpoint taking POSTs at ``route`` (a webhook, a collector); the caller cleans the runner up."""
    app = web.Application()
    app.router.add_post(route, handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


# Prometheus samples by metric name and label set.
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape_metrics(http: aiohttp.ClientSession, url: str) -> tuple[str, Samples]:
    """The exposition text of ``url``/metrics and its samples by name and labels."""
    async with http.get(f"{url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = await response.text()
    samples = {(sample.name, frozenset(sample.labels.items())): sample.value
               for family in text_string_to_metric_families(text) for sample in family.samples}  # fmt: skip
    return text, samples


def metric_value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)
