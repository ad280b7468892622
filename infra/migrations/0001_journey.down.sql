DROP TABLE audit_log;
DROP TABLE user_achievements;
DROP TRIGGER besitos_ledger_no_rewrite ON besitos_ledger;
DROP TABLE besitos_ledger;
DROP FUNCTION besitos_ledger_append_only();
DROP TABLE users;
