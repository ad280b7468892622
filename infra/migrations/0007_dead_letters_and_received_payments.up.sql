-- Updates the bot could not get a journey to take (no answer in time, a failing journey, a crash that kept
-- coming back): kept whole for support, who lists and re-drives them (`diana-support dead-letters`).
CREATE TABLE dead_letters (
    id               BIGSERIAL PRIMARY KEY,
    update_id        BIGINT NOT NULL,
    telegram_user_id BIGINT,
    update_json      JSONB NOT NULL,
    error            TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    redriven_at      TIMESTAMPTZ,
    UNIQUE (update_id, error)
);
CREATE INDEX dead_letters_waiting_idx ON dead_letters (created_at) WHERE redriven_at IS NULL;
CREATE INDEX dead_letters_user_idx ON dead_letters (telegram_user_id);

-- Every successful payment Telegram reports, written before its update is confirmed, then driven into the
-- journey (again and again while the journey cannot answer): a Star received is never dropped. `applied_at` is
-- set once the journey has it; `problem` says why it has not (yet); `needs_support` once the journey refused it
-- (support applies or refunds it: `diana-support payments`). `request` is the journey request it is driven with.
CREATE TABLE received_payments (
    charge_id          TEXT PRIMARY KEY,
    telegram_user_id   BIGINT,
    amount             INTEGER NOT NULL,
    currency           TEXT NOT NULL,
    request            JSONB,
    received_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_at         TIMESTAMPTZ,
    refunded_at        TIMESTAMPTZ,
    problem            TEXT,
    needs_support      BOOLEAN NOT NULL DEFAULT false,
    driving_until      TIMESTAMPTZ
);
CREATE INDEX received_payments_open_idx ON received_payments (received_at)
    WHERE applied_at IS NULL AND refunded_at IS NULL;
