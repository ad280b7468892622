DROP TABLE notifications;
DROP TABLE channel_reactions;
DROP TABLE community_posts;
ALTER TABLE user_achievements DROP CONSTRAINT user_achievements_telegram_user_id_fkey,
    ADD CONSTRAINT user_achievements_telegram_user_id_fkey FOREIGN KEY (telegram_user_id)
        REFERENCES users (telegram_user_id);
DROP TABLE user_missions;
DROP TABLE story_decisions;
DROP TABLE story_progress;
DROP TABLE content_versions;

CREATE OR REPLACE FUNCTION besitos_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'besitos_ledger is append-only';
END;
$$ LANGUAGE plpgsql;
-- Fails while anonymised rows exist: rolling back past an erasure would need their owner back.
ALTER TABLE besitos_ledger ALTER COLUMN telegram_user_id SET NOT NULL;

ALTER TABLE users DROP COLUMN longest_streak, DROP COLUMN login_streak, DROP COLUMN notifications;
