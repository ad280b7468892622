-- The data keys that encrypt what each journey puts into Temporal (infra/payload_keys.py). A key is stored
-- wrapped by the master key (AES-GCM; the nonce first), never in the clear. A journey's erasure retires its keys
-- (new payloads of that workflow id get a new key), then destroys them: every byte the user put into Temporal,
-- in the live database or a backup of it, becomes unreadable.
CREATE TABLE payload_keys (
    key_id UUID PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    wrapped BYTEA NOT NULL,
    master_key_id TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    retired_at TIMESTAMPTZ
);
-- One key in use per workflow id (the one new payloads are encrypted with).
CREATE UNIQUE INDEX payload_keys_in_use ON payload_keys (workflow_id) WHERE retired_at IS NULL;
CREATE INDEX payload_keys_workflow ON payload_keys (workflow_id);
