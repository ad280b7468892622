-- The admin dashboard's charts: the daily active users of the last 30 days are each day's first visits (the
-- daily besitos, one ledger row per user and calendar day). The ledger is the largest table; this reads only the
-- visits of the window, and the user id from the index itself (an index-only scan once vacuumed).
CREATE INDEX besitos_ledger_daily_login_idx ON besitos_ledger (created_at) INCLUDE (telegram_user_id)
    WHERE action = 'daily_login';
