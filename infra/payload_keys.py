"""The keys that encrypt what Diana puts into Temporal: a master key from the environment, a data key per workflow.

Each workflow id (one per journey, one per broadcast, ...) has its own data key, made the first time something
is encrypted for it, stored in Postgres wrapped by the master key (AES-GCM), and cached in each process. Erasure
retires a journey's keys (what comes after is encrypted under a new one) and then destroys them: the histories,
in the live database or any backup of it, can no longer be read by anyone, operators included.

Caches stay exact across processes through Postgres LISTEN/NOTIFY: a retired or destroyed key is evicted
everywhere as its transaction commits. A process that lost its listening connection (Postgres restarting, or
away) keeps using what it has cached, so journeys play on through a Postgres outage as they did before
encryption (keys are retired and destroyed in Postgres: nothing changes meanwhile), and empties its caches the
moment it listens again.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import os
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final, TypeVar

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from infra.settings import Settings

log = logging.getLogger("diana.keys")

KEY_BYTES: Final = 32  # AES-256
NONCE_BYTES: Final = 12
# What is encrypted outside any workflow (a client listing, the Temporal UI's own encode): Diana's own key.
NO_WORKFLOW: Final = "*"
NOTIFY_CHANNEL: Final = "diana_payload_keys"
# The embedded stack's master key, generated on first use (a deployment gives DIANA_MASTER_KEY instead).
MASTER_KEY_FILE: Final = "master.key"
_CACHED: Final = 50_000
# While Postgres is away, how often a process tries to listen again (not on every payload).
_LISTEN_RETRY: Final = 5.0
_KEY_IN_USE: Final = (
    "SELECT key_id, wrapped, master_key_id FROM payload_keys WHERE workflow_id = $1 AND retired_at IS NULL"
)
K = TypeVar("K")
V = TypeVar("V")


class MasterKeyMissing(ValueError):
    """No master key where one is required (external servers), or one that is not a key."""


@dataclass(frozen=True)
class MasterKey:
    secret: bytes

    @property
    def key_id(self) -> str:
        """Names the master key in each row it wraps, so rotation knows what is left to re-wrap (not the key)."""
        return hashlib.sha256(b"diana-master-key:" + self.secret).hexdigest()[:16]

    def wrap(self, key_id: uuid.UUID, data_key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self.secret).encrypt(nonce, data_key, key_id.bytes)

    def unwrap(self, key_id: uuid.UUID, wrapped: bytes) -> bytes:
        return AESGCM(self.secret).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], key_id.bytes)


@dataclass(frozen=True)
class MasterKeys:
    """The master key that wraps new data keys, and the ones a rotation is moving away from."""

    current: MasterKey
    previous: tuple[MasterKey, ...] = ()

    def find(self, master_key_id: str) -> MasterKey | None:
        return next((k for k in (self.current, *self.previous) if k.key_id == master_key_id), None)


def new_master_key() -> str:
    """A fresh master key, as DIANA_MASTER_KEY takes it (base64 of 32 random bytes)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def parse_master_key(text: str, name: str = "DIANA_MASTER_KEY") -> MasterKey:
    try:
        secret = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        secret = b""
    if len(secret) != KEY_BYTES:
        raise MasterKeyMissing(f"{name} must be {KEY_BYTES} random bytes in base64 (`diana keys new` makes one)")
    return MasterKey(secret)


def embedded_master_key(data_dir: Path) -> str:
    """The embedded stack's master key: made once, readable by its owner only, kept beside the data it protects."""
    path = data_dir / MASTER_KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as file:
        file.write(new_master_key() + "\n")
    return path.read_text().strip()


def master_keys(settings: Settings) -> MasterKeys:
    """The master keys from the environment; the embedded stack's own when it runs on embedded Postgres."""
    if settings.master_key is not None:
        current = parse_master_key(settings.master_key.get_secret_value())
    elif settings.database_url is None:
        current = parse_master_key(embedded_master_key(settings.data_dir), str(settings.data_dir / MASTER_KEY_FILE))
        following = settings.data_dir / f"{MASTER_KEY_FILE}.next"
        if following.exists():  # a `diana keys rotate` cut off halfway: some keys are wrapped by the next one
            return MasterKeys(current, (parse_master_key(following.read_text(), str(following)),))
    else:
        raise MasterKeyMissing("DIANA_MASTER_KEY is required with an external database: it encrypts what journeys "
                               "put into Temporal (`diana keys new` makes one; keep it apart from backups)")  # fmt: skip
    raw = settings.previous_master_keys.get_secret_value() if settings.previous_master_keys else ""
    previous = tuple(parse_master_key(part, "DIANA_PREVIOUS_MASTER_KEYS") for part in raw.replace(",", " ").split())
    return MasterKeys(current, previous)


class KeyUnavailable(Exception):
    """A data key that was destroyed (its journey erased), or wrapped by a master key this process lacks."""


class PayloadKeys:
    """The data keys: by workflow id to encrypt, by key id to decrypt."""

    def __init__(self, masters: MasterKeys, dsn: str, *, pool: asyncpg.Pool | None = None) -> None:
        self.masters = masters
        self._dsn = dsn
        self._pool = pool
        self._own_pool = pool is None
        self._in_use: OrderedDict[str, uuid.UUID] = OrderedDict()
        self._keys: OrderedDict[uuid.UUID, bytes] = OrderedDict()
        self._listener: asyncpg.Connection | None = None
        self._heard_everything = True  # False from losing the listener until the caches are emptied
        self._next_attempt = 0.0
        self._lock = asyncio.Lock()

    async def key_for(self, workflow_id: str) -> tuple[uuid.UUID, bytes]:
        """The key new payloads of ``workflow_id`` are encrypted with; made on first use."""
        await self._listen()
        key_id = self._in_use.get(workflow_id)
        if key_id is not None and key_id in self._keys:
            self._in_use.move_to_end(workflow_id)
            return key_id, self._keys[key_id]
        pool = await self._connected()
        row = await pool.fetchrow(_KEY_IN_USE, workflow_id)
        if row is None:
            made = uuid.uuid4()
            wrapped = self.masters.current.wrap(made, os.urandom(KEY_BYTES))
            await pool.execute("INSERT INTO payload_keys (key_id, workflow_id, wrapped, master_key_id) "
                               "VALUES ($1, $2, $3, $4) ON CONFLICT (workflow_id) WHERE retired_at IS NULL DO NOTHING",
                               made, workflow_id, wrapped, self.masters.current.key_id)  # fmt: skip
            row = await pool.fetchrow(_KEY_IN_USE, workflow_id)  # ours, or a racing process's
            assert row is not None, "a key in use was made and retired at once"
        key = self._unwrap(row["key_id"], row["wrapped"], row["master_key_id"])
        _remember(self._in_use, workflow_id, row["key_id"])
        _remember(self._keys, row["key_id"], key)
        return row["key_id"], key

    async def key(self, key_id: uuid.UUID) -> bytes:
        """The key a payload names. :raises KeyUnavailable: destroyed, or wrapped by an unknown master key."""
        await self._listen()
        if key_id in self._keys:
            return self._keys[key_id]
        pool = await self._connected()
        row = await pool.fetchrow("SELECT wrapped, master_key_id FROM payload_keys WHERE key_id = $1", key_id)
        if row is None:
            raise KeyUnavailable(f"data key {key_id} no longer exists (its journey was erased)")
        key = self._unwrap(key_id, row["wrapped"], row["master_key_id"])
        _remember(self._keys, key_id, key)
        return key

    def _unwrap(self, key_id: uuid.UUID, wrapped: bytes, master_key_id: str) -> bytes:
        master = self.masters.find(master_key_id)
        if master is None:
            raise KeyUnavailable(f"data key {key_id} is wrapped by master key {master_key_id}, which this process "
                                 "lacks (a rotation half done? give the old one in DIANA_PREVIOUS_MASTER_KEYS)")  # fmt: skip
        try:
            return master.unwrap(key_id, bytes(wrapped))
        except InvalidTag:
            raise KeyUnavailable(f"data key {key_id} does not open with master key {master_key_id}") from None

    async def _connected(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=4)
        assert self._pool is not None
        return self._pool

    async def _listen(self) -> None:
        """Listen for retired and destroyed keys; when that starts again after a loss, forget every cached key."""
        if self._listener is not None and not self._listener.is_closed():
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self._next_attempt:
            return
        try:
            async with asyncio.timeout(2):
                listener = await asyncpg.connect(self._dsn)
                await listener.add_listener(NOTIFY_CHANNEL, self._heard)
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            self._next_attempt = loop.time() + _LISTEN_RETRY
            log.warning("not listening for retired payload keys (%s): using the keys cached so far", error)
            return
        listener.add_termination_listener(self._deaf)
        if not self._heard_everything:
            self._in_use.clear()
            self._keys.clear()
            self._heard_everything = True
        self._listener = listener

    def _heard(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        what, _, name = payload.partition(":")
        if what == "retired":
            self._in_use.pop(name, None)
        elif what == "destroyed":
            self._keys.pop(uuid.UUID(name), None)

    def _deaf(self, _connection: object) -> None:
        self._listener = None
        self._heard_everything = False

    async def close(self) -> None:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            await listener.close()
        if self._pool is not None and self._own_pool:
            await self._pool.close()


def _remember(cache: OrderedDict[K, V], key: K, value: V) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _CACHED:
        cache.popitem(last=False)


async def retire_keys(conn: asyncpg.Connection, workflow_id: str) -> list[uuid.UUID]:
    """Retire the key in use of ``workflow_id``; returns every key it ever had (to destroy once it has closed)."""
    await conn.execute("UPDATE payload_keys SET retired_at = now() WHERE workflow_id = $1 AND retired_at IS NULL",
                       workflow_id)  # fmt: skip
    await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, f"retired:{workflow_id}")
    return [row["key_id"] for row in await conn.fetch(
        "SELECT key_id FROM payload_keys WHERE workflow_id = $1 ORDER BY created_at", workflow_id)]  # fmt: skip


async def retire_keys_made_before(conn: asyncpg.Connection, workflow_id: str,
                                  moment: datetime) -> list[uuid.UUID]:  # fmt: skip
    """Retire the key in use of ``workflow_id`` if it was made before ``moment``; returns it (or nothing)."""
    rows = await conn.fetch("UPDATE payload_keys SET retired_at = now() WHERE workflow_id = $1 AND retired_at IS NULL "
                            "AND created_at <= $2 RETURNING key_id", workflow_id, moment)  # fmt: skip
    await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, f"retired:{workflow_id}")
    return [row["key_id"] for row in rows]


async def destroy_keys(conn: asyncpg.Connection, key_ids: Iterable[uuid.UUID]) -> int:
    """Delete the keys: what they encrypted is unreadable from now on. Returns how many there were."""
    ids = list(key_ids)
    destroyed = await conn.fetch("DELETE FROM payload_keys WHERE key_id = ANY($1::uuid[]) RETURNING key_id", ids)
    for row in destroyed:
        await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, f"destroyed:{row['key_id']}")
    return len(destroyed)


async def rewrap_keys(conn: asyncpg.Connection, masters: MasterKeys, *, batch: int = 1000) -> tuple[int, list[str]]:
    """Rotation: every data key not wrapped by the current master key is wrapped by it now.

    Returns how many were re-wrapped and the master key ids some keys are still wrapped by (none known here).
    """
    done = 0
    missing: set[str] = set()
    current = masters.current
    while True:
        rows = await conn.fetch("SELECT key_id, wrapped, master_key_id FROM payload_keys WHERE master_key_id <> $1 "
                                "AND NOT (master_key_id = ANY($2::text[])) ORDER BY key_id LIMIT $3",
                                current.key_id, list(missing), batch)  # fmt: skip
        if not rows:
            return done, sorted(missing)
        async with conn.transaction():
            for row in rows:
                old = masters.find(row["master_key_id"])
                if old is None:
                    missing.add(row["master_key_id"])
                    continue
                key = old.unwrap(row["key_id"], bytes(row["wrapped"]))
                await conn.execute("UPDATE payload_keys SET wrapped = $2, master_key_id = $3 WHERE key_id = $1 "
                                   "AND master_key_id = $4", row["key_id"], current.wrap(row["key_id"], key),
                                   current.key_id, row["master_key_id"])  # fmt: skip
                done += 1
