#!/bin/sh
# The application's role, which the bot and the workers connect as (docker-compose.yml): it logs in with
# DIANA_APP_DB_PASSWORD and may do nothing else by itself: no superuser, no new roles or databases. Its rights on
# the tables are granted by the migrations, run as the schema's owner (infra/migrate.py, APP_PRIVILEGES).
#
# The postgres image runs this once, on an empty volume, as its superuser (POSTGRES_USER, the owner). On a volume
# made before this file, or to change the password, run it by hand (idempotent):
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/10-diana-app-role.sh
# No `set -u`: the image sources a script that is not executable, and the option would stay on in its entrypoint.
: "${DIANA_APP_DB_PASSWORD:?set DIANA_APP_DB_PASSWORD}"
# The password is a psql variable, quoted by psql (:'app_password'), never pasted into the SQL's text.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     --set app_password="$DIANA_APP_DB_PASSWORD" <<'SQL'
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'diana_app') AS missing \gset
\if :missing
CREATE ROLE diana_app;
\endif
ALTER ROLE diana_app WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'app_password';
SQL
