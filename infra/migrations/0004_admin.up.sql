-- Admin tools: users who blocked the bot or were banned by an admin, and broadcasts with their totals.

-- Set when Telegram answers 403 to a message; a later visit (last_seen_at after it) means the user unblocked.
ALTER TABLE users
    ADD COLUMN blocked_at TIMESTAMPTZ,
    ADD COLUMN banned_at  TIMESTAMPTZ;

-- One row per admin broadcast (the Broadcast workflow's id); the totals are written when it finishes.
CREATE TABLE broadcasts (
    id              TEXT PRIMARY KEY,
    actor           BIGINT NOT NULL,
    segment         TEXT NOT NULL CHECK (segment IN ('all', 'vip', 'free', 'inactive')),
    inactive_days   INTEGER,
    text            TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at     TIMESTAMPTZ,
    sent            INTEGER NOT NULL DEFAULT 0,
    skipped_blocked INTEGER NOT NULL DEFAULT 0,
    failed          INTEGER NOT NULL DEFAULT 0,
    unconfirmed     INTEGER NOT NULL DEFAULT 0,
    total           INTEGER NOT NULL DEFAULT 0,
    CHECK (CASE WHEN segment = 'inactive' THEN coalesce(inactive_days > 0, false) ELSE inactive_days IS NULL END)
);
CREATE INDEX broadcasts_created_idx ON broadcasts (created_at DESC);
