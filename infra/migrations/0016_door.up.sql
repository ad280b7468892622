-- The free channels' door: how long a join request waits before it is approved (the admin's /puerta). One row; none
-- means the default (bot.door). The requests themselves are Temporal workflows (door-<chat>-<user>).
CREATE TABLE door_settings (
    singleton     BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    delay_seconds INTEGER NOT NULL CHECK (delay_seconds BETWEEN 0 AND 86400),
    changed_by    BIGINT,
    changed_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
