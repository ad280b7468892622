-- The application connects as a role of its own that may add audit rows but not change them (infra/migrate.py,
-- APP_PRIVILEGES). Forgetting an erased user is the one change allowed, so it runs with the rights of this
-- function's owner, the schema's, and only as the function does it. Its search_path is fixed: no object a caller
-- creates can stand in for audit_log or a function it calls. Only roles granted EXECUTE may call it.
ALTER FUNCTION forget_audit_subject(TEXT, TEXT, TEXT) SECURITY DEFINER SET search_path = public, pg_temp;
REVOKE EXECUTE ON FUNCTION forget_audit_subject(TEXT, TEXT, TEXT) FROM PUBLIC;
