-- Referrals: each user's invitation code (random, never the user id), resolved by the journey of whoever arrives
-- through a link ``https://t.me/<bot>?start=ref_<code>``. The journeys keep the counts; erasing a user drops their code.
CREATE TABLE referral_codes (
    code             TEXT PRIMARY KEY CHECK (code ~ '^[a-z0-9]{10}$'),
    telegram_user_id BIGINT NOT NULL UNIQUE REFERENCES users (telegram_user_id) ON DELETE CASCADE,
    created_at       TIMESTAMPTZ NOT NULL
);
