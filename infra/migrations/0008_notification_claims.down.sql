ALTER TABLE notifications DROP COLUMN claimed_at;
