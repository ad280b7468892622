DROP TABLE broadcasts;
ALTER TABLE users DROP COLUMN banned_at, DROP COLUMN blocked_at;
