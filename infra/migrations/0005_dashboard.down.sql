DROP INDEX subscriptions_status_idx;
DROP INDEX user_missions_code_idx;
DROP INDEX users_joined_at_idx;
