-- Diana's shop: what users bought or were given (their backpacks, as the admins see them), limited stock, auctions.

-- One row per backpack entry, written again on every change (an order delivered, a purchase refunded). Erasing a user
-- keeps the row for the figures, without who.
CREATE TABLE shop_purchases (
    purchase_id      TEXT PRIMARY KEY,  -- "journey-<user>:p<n>"
    telegram_user_id BIGINT REFERENCES users (telegram_user_id) ON DELETE SET NULL,
    item             TEXT NOT NULL,
    item_kind        TEXT NOT NULL,
    source           TEXT NOT NULL,
    price            INTEGER NOT NULL CHECK (price >= 0),
    status           TEXT NOT NULL,
    bought_at        TIMESTAMPTZ NOT NULL,
    changed_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX shop_purchases_user_idx ON shop_purchases (telegram_user_id, bought_at);
CREATE INDEX shop_purchases_waiting_idx ON shop_purchases (bought_at) WHERE status = 'waiting';
CREATE INDEX shop_purchases_day_idx ON shop_purchases (bought_at);

-- A limited item's units: a claim holds one until released (its purchase refunded, or its turn refused).
CREATE TABLE shop_stock_claims (
    claim_id         TEXT PRIMARY KEY,
    item             TEXT NOT NULL,
    telegram_user_id BIGINT,
    claimed_at       TIMESTAMPTZ NOT NULL,
    released_at      TIMESTAMPTZ
);
CREATE INDEX shop_stock_claims_item_idx ON shop_stock_claims (item) WHERE released_at IS NULL;

-- Auctions as the bot shows them (the auction workflow is the truth): written by the workflow on every change.
CREATE TABLE auctions (
    auction_id       TEXT PRIMARY KEY,
    item             TEXT NOT NULL,
    title            TEXT NOT NULL,
    start_price      INTEGER NOT NULL CHECK (start_price > 0),
    increment        INTEGER NOT NULL CHECK (increment > 0),
    vip_only         BOOLEAN NOT NULL DEFAULT false,
    ends_at          TIMESTAMPTZ NOT NULL,
    status           TEXT NOT NULL,  -- running, ended, cancelled
    leader           BIGINT,
    leading_bid      INTEGER,
    bids             INTEGER NOT NULL DEFAULT 0,
    created_by       BIGINT,
    created_at       TIMESTAMPTZ NOT NULL,
    changed_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX auctions_running_idx ON auctions (ends_at) WHERE status = 'running';
