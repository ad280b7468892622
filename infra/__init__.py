"""The floor: configuration, connections to Temporal, Postgres and Redis, telemetry, health, migrations."""
