-- Content versions, story progress and decisions, missions, channel reactions, notifications,
-- and erasure: ledger rows of an erased user are anonymised in place (the only rewrite allowed).

ALTER TABLE users
    ADD COLUMN notifications  BOOLEAN NOT NULL DEFAULT true,
    ADD COLUMN login_streak   INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN longest_streak INTEGER NOT NULL DEFAULT 0;

ALTER TABLE besitos_ledger ALTER COLUMN telegram_user_id DROP NOT NULL;

CREATE OR REPLACE FUNCTION besitos_ledger_append_only() RETURNS trigger AS $$
BEGIN
    -- Anonymising a row of an erased user keeps the amounts and history, and only forgets who.
    IF TG_OP = 'UPDATE'
       AND OLD.telegram_user_id IS NOT NULL AND NEW.telegram_user_id IS NULL
       AND NEW.idempotency_key = 'erased:' || OLD.id
       AND NEW.action = OLD.action AND NEW.amount = OLD.amount AND NEW.balance_after = OLD.balance_after
       AND NEW.created_at = OLD.created_at THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'besitos_ledger is append-only';
END;
$$ LANGUAGE plpgsql;

-- Content documents, immutable once stored; the active one is the last activated.
CREATE TABLE content_versions (
    version      SERIAL PRIMARY KEY,
    label        TEXT NOT NULL,
    sha256       TEXT NOT NULL UNIQUE,
    document     JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    activated_at TIMESTAMPTZ
);
CREATE INDEX content_versions_active_idx ON content_versions (activated_at DESC NULLS LAST);

CREATE TABLE story_progress (
    telegram_user_id BIGINT PRIMARY KEY REFERENCES users (telegram_user_id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,
    content_version  INTEGER NOT NULL,
    fragment_id      TEXT,
    playthrough      INTEGER NOT NULL,
    relationship     INTEGER NOT NULL,
    flags            JSONB NOT NULL,
    completed        JSONB NOT NULL,
    endings          JSONB NOT NULL,
    saved_at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX story_progress_fragment_idx ON story_progress (fragment_id);

CREATE TABLE story_decisions (
    id               BIGSERIAL PRIMARY KEY,
    telegram_user_id BIGINT NOT NULL REFERENCES users (telegram_user_id) ON DELETE CASCADE,
    idempotency_key  TEXT NOT NULL UNIQUE,
    playthrough      INTEGER NOT NULL,
    fragment_id      TEXT NOT NULL,
    choice_id        TEXT NOT NULL,
    decided_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX story_decisions_user_idx ON story_decisions (telegram_user_id, id);

CREATE TABLE user_missions (
    telegram_user_id BIGINT NOT NULL REFERENCES users (telegram_user_id) ON DELETE CASCADE,
    code             TEXT NOT NULL,
    completed_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (telegram_user_id, code)
);

ALTER TABLE user_achievements DROP CONSTRAINT user_achievements_telegram_user_id_fkey,
    ADD CONSTRAINT user_achievements_telegram_user_id_fkey FOREIGN KEY (telegram_user_id)
        REFERENCES users (telegram_user_id) ON DELETE CASCADE;

-- Posts published to a community channel with reaction buttons.
CREATE TABLE community_posts (
    chat_id      BIGINT NOT NULL,
    message_id   BIGINT NOT NULL,
    published_by BIGINT NOT NULL,
    text         TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_id, message_id)
);

-- One reaction per user and post, ever; besitos only under the daily cap.
CREATE TABLE channel_reactions (
    chat_id          BIGINT NOT NULL,
    message_id       BIGINT NOT NULL,
    telegram_user_id BIGINT NOT NULL REFERENCES users (telegram_user_id) ON DELETE CASCADE,
    rewarded         BOOLEAN NOT NULL,
    reacted_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (chat_id, message_id, telegram_user_id)
);

-- Messages the journeys sent on their own, once per idempotency key.
CREATE TABLE notifications (
    idempotency_key  TEXT PRIMARY KEY,
    telegram_user_id BIGINT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'undeliverable')),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at          TIMESTAMPTZ
);
CREATE INDEX notifications_user_idx ON notifications (telegram_user_id);
