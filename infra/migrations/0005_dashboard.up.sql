-- The admin dashboard on 100 000 users: the counts by day and by code read an index range, not the table.

-- New users today / in the last 7 days (last_seen_at, for the daily actives, is indexed since 0001).
CREATE INDEX users_joined_at_idx ON users (joined_at);
-- Completions per mission (the primary key starts with the user).
CREATE INDEX user_missions_code_idx ON user_missions (code);
-- Active and grace subscriptions, by status.
CREATE INDEX subscriptions_status_idx ON subscriptions (status) WHERE status IN ('active', 'grace');
