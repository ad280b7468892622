DROP INDEX notifications_created_idx;
ALTER TABLE notifications DROP COLUMN claimed_at;
