-- Telegram's file_id of each media key, per bot (a file_id works only for the bot that got it). A file shipped with
-- the content is uploaded once and then sent by its file_id; its sha256 tells when the file changed (uploaded again).
-- Media an admin registered by sending it to the bot (/media) has no file: registered_by names the admin.
CREATE TABLE media_files (
    bot_id BIGINT NOT NULL,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    file_id TEXT NOT NULL,
    file_unique_id TEXT,
    size_bytes BIGINT,
    sha256 TEXT,
    registered_by BIGINT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (bot_id, key),
    CHECK (kind IN ('photo', 'video', 'animation', 'voice', 'audio', 'document'))
);

-- What an admin's channel post carried besides its text (photo, video, voice, ... ; several for an album).
ALTER TABLE community_posts ADD COLUMN media_kinds TEXT[] NOT NULL DEFAULT '{}';

-- Paid media the bot sent for Stars (sendPaidMedia): its payload names the offer, which says its price.
CREATE TABLE paid_media_offers (
    payload TEXT PRIMARY KEY,
    star_count INTEGER NOT NULL CHECK (star_count > 0),
    broadcast_id TEXT,
    media_kinds TEXT[] NOT NULL,
    caption TEXT NOT NULL DEFAULT '',
    created_by BIGINT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Each purchase, kept by the bot as Telegram reports it (purchased_paid_media) before the journey takes it: once per
-- user and offer (Telegram sells a message's media to a user once). An erased user's rows lose the user.
CREATE TABLE paid_media_purchases (
    id BIGSERIAL PRIMARY KEY,
    telegram_user_id BIGINT,
    payload TEXT NOT NULL,
    star_count INTEGER,
    purchased_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (telegram_user_id, payload)
);
CREATE INDEX paid_media_purchases_day ON paid_media_purchases (purchased_at);
