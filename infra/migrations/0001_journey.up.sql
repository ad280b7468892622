-- The journey's Postgres projection: profiles, the besitos ledger, achievements, audit log.

CREATE TABLE users (
    telegram_user_id BIGINT PRIMARY KEY,
    username         TEXT,
    first_name       TEXT NOT NULL DEFAULT '',
    language         TEXT NOT NULL DEFAULT 'es',
    stage            TEXT NOT NULL,
    joined_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX users_username_idx ON users (lower(username));
CREATE INDEX users_last_seen_idx ON users (last_seen_at);

-- Append-only: a correction is a new row, never an UPDATE or DELETE.
CREATE TABLE besitos_ledger (
    id               BIGSERIAL PRIMARY KEY,
    telegram_user_id BIGINT NOT NULL REFERENCES users (telegram_user_id),
    action           TEXT NOT NULL,
    amount           INTEGER NOT NULL,
    balance_after    INTEGER NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    context          JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX besitos_ledger_user_idx ON besitos_ledger (telegram_user_id, id);

CREATE FUNCTION besitos_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'besitos_ledger is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER besitos_ledger_no_rewrite
    BEFORE UPDATE OR DELETE ON besitos_ledger
    FOR EACH ROW EXECUTE FUNCTION besitos_ledger_append_only();

CREATE TABLE user_achievements (
    telegram_user_id BIGINT NOT NULL REFERENCES users (telegram_user_id),
    code             TEXT NOT NULL,
    unlocked_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (telegram_user_id, code)
);

CREATE TABLE audit_log (
    id         BIGSERIAL PRIMARY KEY,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT,
    reason     TEXT,
    details    JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
