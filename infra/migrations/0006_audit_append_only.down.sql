DROP INDEX audit_log_subject_idx;
DROP TRIGGER audit_log_no_rewrite ON audit_log;
DROP FUNCTION audit_log_append_only();
