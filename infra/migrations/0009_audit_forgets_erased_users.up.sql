-- Once a user is erased, no audit row links their Telegram id to anything. The log stays append-only: the one
-- change allowed is the one ``forget_audit_subject`` makes, in its own transaction-local setting, replacing the
-- user's subject and actor by a pseudonym and blanking what in ``details`` names them. Nothing else may change.
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('diana.audit_forget', true) = 'on'
       AND NEW.id = OLD.id AND NEW.action = OLD.action AND NEW.reason IS NOT DISTINCT FROM OLD.reason
       AND NEW.created_at = OLD.created_at THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION forget_audit_subject(who TEXT, pseudonym TEXT, user_id TEXT) RETURNS integer AS $$
DECLARE
    changed integer;
BEGIN
    PERFORM set_config('diana.audit_forget', 'on', true);
    UPDATE audit_log
       SET subject = CASE WHEN subject = who THEN pseudonym ELSE subject END,
           actor = CASE WHEN actor = who THEN pseudonym ELSE actor END,
           details = COALESCE((SELECT jsonb_object_agg(key, CASE WHEN value::text LIKE '%' || user_id || '%'
                                                            THEN '"(erased)"'::jsonb ELSE value END)
                                 FROM jsonb_each(details)), '{}'::jsonb)
     WHERE subject = who OR actor = who;
    GET DIAGNOSTICS changed = ROW_COUNT;
    PERFORM set_config('diana.audit_forget', 'off', true);
    RETURN changed;
END;
$$ LANGUAGE plpgsql;
