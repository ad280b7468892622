-- When a message was last claimed for sending: a claim younger than an activity's time limit belongs to an attempt
-- that may still be sending it (one called off for a new run keeps going), so another attempt waits instead of
-- sending a second copy.
ALTER TABLE notifications ADD COLUMN claimed_at TIMESTAMPTZ NOT NULL DEFAULT now();

-- Rows older than a month are pruned by the worker (a reminder a day per user adds up); this finds them.
CREATE INDEX notifications_created_idx ON notifications (created_at);
