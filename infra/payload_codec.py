"""Every payload Diana puts into Temporal is encrypted under its workflow's own data key (AES-GCM).

Workflow inputs, update arguments and results, activity arguments and results, queries, the memo and failures
(their messages and stack traces too) go through ``JourneyCodec``. temporalio hands it the serialization
context of each payload (``WithSerializationContext``): the workflow id picks the data key, and the key's id
travels in the payload's metadata, so decoding needs no context. Search attributes are not payloads of this
kind: they stay readable, and hold no personal data.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Sequence
from typing import Final, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from infra.payload_keys import NO_WORKFLOW, NONCE_BYTES, KeyUnavailable, PayloadKeys

ENCODING: Final = b"binary/encrypted"
KEY_ID: Final = "encryption-key-id"
# Nothing to hide in "no value" (a None result): left as it is, so a workflow returning nothing needs no key.
_NOTHING: Final = b"binary/null"


class PayloadUnreadable(Exception):
    """An encrypted payload whose key is gone (an erased journey) or that was tampered with."""


class JourneyCodec(PayloadCodec, WithSerializationContext):
    """Encrypts under the data key of the workflow the payload belongs to; decrypts by the key id it carries."""

    def __init__(self, keys: PayloadKeys, workflow_id: str = NO_WORKFLOW) -> None:
        self.keys = keys
        self.workflow_id = workflow_id

    def with_context(self, context: SerializationContext) -> Self:
        workflow_id = None
        if isinstance(context, WorkflowSerializationContext | ActivitySerializationContext):
            workflow_id = context.workflow_id
        return type(self)(self.keys, workflow_id or NO_WORKFLOW)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if all(_left_as_is(p) for p in payloads):
            return list(payloads)
        key_id, key = await self.keys.key_for(self.workflow_id)
        return [p if _left_as_is(p) else _encrypt(p, key_id, key) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [await self.decode_one(p) for p in payloads]

    async def decode_one(self, payload: Payload) -> Payload:
        """:raises PayloadUnreadable: its key was destroyed, or the bytes are not what was encrypted."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        try:
            key_id = uuid.UUID(payload.metadata[KEY_ID].decode())
            key = await self.keys.key(key_id)
            data = payload.data
            clear = AESGCM(key).decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], key_id.bytes)
        except (KeyError, ValueError, KeyUnavailable, InvalidTag) as error:
            raise PayloadUnreadable(f"an encrypted payload cannot be read: {error or type(error).__name__}") from None
        decoded = Payload()
        decoded.ParseFromString(clear)
        return decoded

    async def decode_readable(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Like ``decode``, leaving what cannot be read encrypted (the codec endpoint shows it as such)."""
        decoded = []
        for payload in payloads:
            try:
                decoded.append(await self.decode_one(payload))
            except PayloadUnreadable:
                decoded.append(payload)
        return decoded


def _left_as_is(payload: Payload) -> bool:
    """Encrypted already, or no value."""
    return payload.metadata.get("encoding") in (ENCODING, _NOTHING)


def _encrypt(payload: Payload, key_id: uuid.UUID, key: bytes) -> Payload:
    nonce = os.urandom(NONCE_BYTES)
    # The key id is authenticated too: a payload moved under another key's name does not open.
    sealed = nonce + AESGCM(key).encrypt(nonce, payload.SerializeToString(), key_id.bytes)
    return Payload(metadata={"encoding": ENCODING, KEY_ID: str(key_id).encode()}, data=sealed)


def encrypted_data_converter(keys: PayloadKeys) -> DataConverter:
    """Diana's converter (pydantic models) with every payload, failures' messages included, encrypted."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=JourneyCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def decode_all(message: Message, codec: JourneyCodec) -> int:
    """Decode, in place, every payload inside ``message`` (a history, an event, a description); returns how many
    could not be read (left encrypted)."""
    unreadable = 0
    for payload in payloads_in(message):
        try:
            payload.CopyFrom(await codec.decode_one(payload))
        except PayloadUnreadable:
            unreadable += 1
    return unreadable


def payloads_in(message: Message) -> list[Payload]:
    """Every payload inside ``message``, its maps and lists included (changing them changes ``message``)."""
    if isinstance(message, Payload):
        return [message]
    found: list[Payload] = []
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is not None:
                for item in value.values():
                    found += payloads_in(item)
        elif field.is_repeated:
            for item in value:
                found += payloads_in(item)
        else:
            found += payloads_in(value)
    return found
