-- The VIP subscription (projected from each journey), Telegram Stars payments and admins' VIP passes.

CREATE TABLE subscriptions (
    telegram_user_id BIGINT PRIMARY KEY REFERENCES users (telegram_user_id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,
    plan             TEXT,
    status           TEXT NOT NULL CHECK (status IN ('none', 'active', 'grace', 'expired', 'refunded')),
    started_at       TIMESTAMPTZ,
    expires_at       TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX subscriptions_expiring_idx ON subscriptions (expires_at) WHERE status IN ('active', 'grace');

-- One row per Telegram charge. Money moved, so an erasure anonymises the row instead of deleting it.
CREATE TABLE payments (
    charge_id          TEXT PRIMARY KEY,
    provider           TEXT NOT NULL,
    provider_charge_id TEXT NOT NULL DEFAULT '',
    telegram_user_id   BIGINT,
    payload            TEXT NOT NULL,
    plan               TEXT NOT NULL,
    amount             INTEGER NOT NULL CHECK (amount > 0),
    currency           TEXT NOT NULL,
    paid_at            TIMESTAMPTZ NOT NULL,
    refunded_at        TIMESTAMPTZ,
    refunded_by        TEXT,
    refund_reason      TEXT
);
CREATE INDEX payments_user_idx ON payments (telegram_user_id);
CREATE INDEX payments_paid_at_idx ON payments (paid_at);

-- Passes an admin hands out; redeemed once, before they expire.
CREATE TABLE vip_passes (
    token       TEXT PRIMARY KEY,
    plan        TEXT NOT NULL,
    created_by  BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL,
    redeemed_by BIGINT,
    redeemed_at TIMESTAMPTZ,
    CHECK ((redeemed_by IS NULL) OR (redeemed_at IS NOT NULL))
);
