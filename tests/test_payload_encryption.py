"""What a journey puts into Temporal is encrypted under its own data key, shreddable per user."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.converter import WorkflowSerializationContext
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from adapters.journeys import Journeys
from infra.payload_codec import ENCODING, KEY_ID, JourneyCodec, PayloadUnreadable, payloads_in
from infra.payload_keys import (
    MasterKeys,
    PayloadKeys,
    destroy_keys,
    master_keys,
    new_master_key,
    parse_master_key,
    retire_keys,
    rewrap_keys,
)
from tests import hermetic
from tests.helpers import eventually, new_user_id, request
from tests.test_journey_workflow import onboard
from tools import stack
from tools.support import decoded_history
from worker.codec_server import CodecServer
from workflows.journey import journey_id
from workflows.search_attributes import KEYS

LOCAL_ACTIVITY_MARKER = {"seq", "attempt", "activity_id", "activity_type", "complete_time", "backoff",
                          "original_schedule_time", "activation_index"}  # fmt: skip


TRACE_HEADER = {"traceparent", "tracestate"}
PATCH_MARKER = {"id", "deprecated"}


def _payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


def _for(codec: JourneyCodec, workflow_id: str) -> JourneyCodec:
    return codec.with_context(WorkflowSerializationContext(namespace="default", workflow_id=workflow_id))


@pytest.fixture
async def keys(database: str) -> AsyncIterator[PayloadKeys]:
    store = PayloadKeys(master_keys(hermetic.settings()), database)
    yield store
    await store.close()


async def test_each_workflow_has_its_own_key_and_a_destroyed_key_reads_nothing(
    keys: PayloadKeys, pool: asyncpg.Pool
) -> None:
    codec = JourneyCodec(keys)
    [mine] = await _for(codec, "journey-1").encode([_payload("Xiomara")])
    [theirs] = await _for(codec, "journey-2").encode([_payload("Xiomara")])
    assert mine.metadata["encoding"] == ENCODING and b"Xiomara" not in mine.SerializeToString()
    assert mine.metadata[KEY_ID] != theirs.metadata[KEY_ID], "one key per workflow"
    assert [p.data for p in await codec.decode([mine, theirs])] == [b'"Xiomara"'] * 2, "no context needed to read"
    assert await pool.fetchval("SELECT count(*) FROM payload_keys") == 2

    nothing = Payload(metadata={"encoding": b"binary/null"})
    assert await _for(codec, "journey-3").encode([nothing]) == [nothing], "no value, no key"
    assert await pool.fetchval("SELECT count(*) FROM payload_keys WHERE workflow_id = 'journey-3'") == 0

    tampered = Payload()
    tampered.CopyFrom(theirs)
    tampered.metadata[KEY_ID] = mine.metadata[KEY_ID]
    with pytest.raises(PayloadUnreadable):
        await codec.decode([tampered])

    async with pool.acquire() as conn:
        retired = await retire_keys(conn, "journey-1")
        [again] = await _for(codec, "journey-1").encode([_payload("nuevo")])
        assert again.metadata[KEY_ID] != mine.metadata[KEY_ID], "after retirement, a new key"
        assert (await codec.decode([mine]))[0].data == b'"Xiomara"', "retired is still readable"
        assert await destroy_keys(conn, retired) == 1
    await _heard_by(keys)
    with pytest.raises(PayloadUnreadable, match="no longer exists"):
        await codec.decode([mine])
    assert await codec.decode_readable([mine]) == [mine], "left encrypted where it cannot be read"
    assert (await codec.decode([again]))[0].data == b'"nuevo"'


async def _heard_by(keys: PayloadKeys) -> None:
    """NOTIFY reaches the listener as its own connection reads it: one round trip there is enough."""
    listener = keys._listener
    if listener is not None:
        await listener.execute("SELECT 1")
    await asyncio.sleep(0)


async def test_a_process_that_cached_a_key_forgets_it_when_another_destroys_it(database: str) -> None:
    masters = master_keys(hermetic.settings())
    bot, worker = PayloadKeys(masters, database), PayloadKeys(masters, database)
    try:
        [sealed] = await _for(JourneyCodec(bot), "journey-9").encode([_payload("Quillacollo")])
        assert (await JourneyCodec(bot).decode([sealed]))[0].data == b'"Quillacollo"'  # cached in the bot
        pool = await worker._connected()
        async with pool.acquire() as conn:
            await destroy_keys(conn, await retire_keys(conn, "journey-9"))
        await _heard_by(bot)
        with pytest.raises(PayloadUnreadable):
            await JourneyCodec(bot).decode([sealed])
        [fresh] = await _for(JourneyCodec(bot), "journey-9").encode([_payload("otra vez")])
        assert fresh.metadata[KEY_ID] != sealed.metadata[KEY_ID], "the bot encrypts a new /start under a new key"
    finally:
        await bot.close()
        await worker.close()


async def test_rotation_rewraps_every_key_under_the_new_master_key(database: str, pool: asyncpg.Pool) -> None:
    old = parse_master_key(new_master_key())
    before = PayloadKeys(MasterKeys(old), database)
    [sealed] = await _for(JourneyCodec(before), "journey-5").encode([_payload("Vera")])
    await before.close()

    new = parse_master_key(new_master_key())
    without_old = PayloadKeys(MasterKeys(new), database)
    with pytest.raises(PayloadUnreadable, match="lacks"):
        await JourneyCodec(without_old).decode([sealed])
    await without_old.close()
    async with pool.acquire() as conn:
        assert await rewrap_keys(conn, MasterKeys(new, (old,))) == (1, [])
        assert await rewrap_keys(conn, MasterKeys(new, (old,))) == (0, []), "nothing left to re-wrap"
    after = PayloadKeys(MasterKeys(new), database)
    try:
        assert (await JourneyCodec(after).decode([sealed]))[0].data == b'"Vera"', "the old master key is not needed"
    finally:
        await after.close()


async def test_a_journeys_history_and_memo_are_encrypted_and_its_search_attributes_are_not(
    journeys: Journeys, client: Client, temporal_env: WorkflowEnvironment, pool: asyncpg.Pool
) -> None:
    user_id = new_user_id()
    await journeys.interact(request(user_id, "start", first_name="Xiomara"))
    await onboard(journeys, user_id)
    # Temporal itself, read without the keys (as its database, a backup or the UI without a codec would be).
    plain = temporal_env.client.get_workflow_handle(journey_id(user_id))
    history = await plain.fetch_history()
    raw = history.to_json().encode()
    assert b"Xiomara" not in raw and "Xiomara".encode("utf-16-le") not in raw
    # Search attributes' payloads name their type; they are the only ones left readable.
    encoded = [p for event in history.events for p in payloads_in(event) if "type" not in p.metadata]
    odd = [p for e in history.events for p in payloads_in(e)
           if "type" not in p.metadata and p.metadata.get("encoding") not in (ENCODING, b"binary/null")]  # fmt: skip
    # Besides them, only the SDK's own bookkeeping of a local activity (its id, type, attempt and times) and of a
    # patch (its name), and the trace context in headers.
    assert all(json.loads(p.data).keys() <= LOCAL_ACTIVITY_MARKER | PATCH_MARKER | TRACE_HEADER for p in odd), odd
    [key_id] = {p.metadata[KEY_ID] for p in encoded if p.metadata.get("encoding") == ENCODING}
    assert await pool.fetchval("SELECT workflow_id FROM payload_keys WHERE key_id = $1",
                               uuid.UUID(key_id.decode())) == journey_id(user_id)  # fmt: skip
    description = await plain.describe()
    assert all(p.metadata["encoding"] == ENCODING for p in description.raw_description.workflow_execution_info.memo.fields.values())  # fmt: skip
    described = await client.get_workflow_handle(journey_id(user_id)).describe()
    assert await described.memo() == {"language": "es"}, "who the user is stays out of the memo"
    attributes = description.typed_search_attributes
    assert attributes.get(KEYS["JourneyStage"]) == "active", "search attributes stay readable, and hold no person"

    # Diana's own client reads it whole, through the codec (as diana-support does; it refuses what it can't read).
    readable = await decoded_history(client, user_id)
    assert b"Xiomara" in b"".join(event.SerializeToString() for event in readable.events)


async def test_an_erased_journey_becomes_unreadable_then_is_deleted_and_a_new_start_has_a_new_key(
    journeys: Journeys, client: Client, temporal_env: WorkflowEnvironment, pool: asyncpg.Pool,
    http: aiohttp.ClientSession,
) -> None:  # fmt: skip
    codec = client.data_converter.payload_codec
    assert isinstance(codec, JourneyCodec)
    endpoint = CodecServer(codec, client.namespace, host="127.0.0.1", port=stack.free_port(),
                           origins=["http://127.0.0.1:8233"])  # fmt: skip
    await endpoint.start()
    url = f"http://127.0.0.1:{endpoint.port}"
    user_id = new_user_id()
    await journeys.interact(request(user_id, "start", first_name="Xiomara"))
    reply = await onboard(journeys, user_id)
    workflow_id = journey_id(user_id)
    history = await temporal_env.client.get_workflow_handle(workflow_id).fetch_history()
    sealed = [p for e in history.events for p in payloads_in(e) if p.metadata.get("encoding") == ENCODING]
    try:
        # What the Temporal UI asks the codec endpoint, from the operator's browser.
        preflight = await http.options(f"{url}/decode", headers={"Origin": "http://127.0.0.1:8233",
                                                                 "Access-Control-Request-Method": "POST"})  # fmt: skip
        assert preflight.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8233"
        assert "X-Namespace" in preflight.headers["Access-Control-Allow-Headers"]
        stranger = await http.options(f"{url}/decode", headers={"Origin": "http://evil.example"})
        assert "Access-Control-Allow-Origin" not in stranger.headers
        assert (await http.post(f"{url}/decode", data="{not json")).status == 400
        assert (await http.post(f"{url}/decode", data="{}", headers={"X-Namespace": "other"})).status == 403
        live = await _through_endpoint(http, url, sealed)
        assert b"Xiomara" in b"".join(live), "a live journey is shown decoded"

        reply = await journeys.interact(request(user_id, "button", action="settings", screen=reply.screen.seq))
        reply = await journeys.interact(request(user_id, "button", action="erase", screen=reply.screen.seq))
        reply = await journeys.interact(request(user_id, "button", action="erase_confirm", screen=reply.screen.seq))
        assert reply.screen.key == "settings.erased"

        async def deleted() -> bool | None:
            runs = [r async for r in temporal_env.client.list_workflows(f"WorkflowId = '{workflow_id}'")]
            keys = await pool.fetchval("SELECT count(*) FROM payload_keys WHERE workflow_id = $1 OR workflow_id LIKE "
                                       "'forget-%'", workflow_id)  # fmt: skip
            return (not runs and keys == 0) or None

        await eventually(deleted, within=60, interval=0.5)
        with pytest.raises(RPCError):
            await temporal_env.client.get_workflow_handle(workflow_id).describe()
        gone = await _through_endpoint(http, url, sealed)
        assert b"Xiomara" not in b"".join(gone), "an erased journey cannot be decoded, by anyone"
        with pytest.raises(PayloadUnreadable):
            await codec.decode(sealed[:1])
        deletions = [r async for r in temporal_env.client.list_workflows("WorkflowType = 'JourneyDeletion'")]
        assert [r.status for r in deletions] == [WorkflowExecutionStatus.COMPLETED]

        await journeys.interact(request(user_id, "start", first_name="Xiomara"))
        fresh = await temporal_env.client.get_workflow_handle(workflow_id).fetch_history()
        new_keys = {
            p.metadata[KEY_ID] for e in fresh.events for p in payloads_in(e) if p.metadata.get("encoding") == ENCODING
        }
        assert new_keys and not new_keys & {p.metadata[KEY_ID] for p in sealed}, "a new journey, a new key"
    finally:
        await endpoint.stop()


async def _through_endpoint(http: aiohttp.ClientSession, url: str, payloads: list[Payload]) -> list[bytes]:
    body = json_format.MessageToJson(Payloads(payloads=payloads))
    async with http.post(f"{url}/decode", data=body, headers={"X-Namespace": "default",
                                                              "Content-Type": "application/json"}) as response:  # fmt: skip
        assert response.status == 200
        decoded = json_format.Parse(await response.text(), Payloads())
    return [p.data for p in decoded.payloads]


async def test_diana_keys_rotate_rewraps_every_key_and_names_a_master_key_it_lacks(database: str) -> None:
    suite_key = hermetic.SUITE_VALUES["DIANA_MASTER_KEY"]
    keys = PayloadKeys(master_keys(hermetic.settings()), database)
    [sealed] = await _for(JourneyCodec(keys), "journey-7").encode([_payload("Vera")])
    await keys.close()
    made = hermetic.run_diana(["-m", "tools.cli", "keys", "new"], hermetic.process_environment(),
                              capture_output=True, text=True)  # fmt: skip
    new = made.stdout.strip()
    assert made.returncode == 0 and parse_master_key(new).secret != parse_master_key(suite_key).secret

    env = hermetic.process_environment(DATABASE_URL=database, DIANA_MASTER_KEY=new)
    lacking = hermetic.run_diana(["-m", "tools.cli", "keys", "rotate"], env, capture_output=True, text=True)
    assert lacking.returncode == 1 and "still wrapped by unknown master key" in lacking.stderr
    assert suite_key not in lacking.stdout + lacking.stderr and new not in lacking.stdout + lacking.stderr
    bad = hermetic.run_diana(["-m", "tools.cli", "keys", "rotate"], {**env, "DIANA_MASTER_KEY": "c2hvcnQ="},
                             capture_output=True, text=True)  # fmt: skip
    assert bad.returncode != 0 and "32 random bytes in base64" in bad.stderr

    rotated = hermetic.run_diana(["-m", "tools.cli", "keys", "rotate"],
                                 {**env, "DIANA_PREVIOUS_MASTER_KEYS": suite_key}, capture_output=True, text=True)  # fmt: skip
    assert rotated.returncode == 0, rotated.stderr
    assert "1 data key(s) re-wrapped" in rotated.stdout
    after = PayloadKeys(MasterKeys(parse_master_key(new)), database)
    try:
        assert (await JourneyCodec(after).decode([sealed]))[0].data == b'"Vera"', "readable without the old key"
    finally:
        await after.close()
