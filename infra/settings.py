"""The one configuration object for every Diana process.

Every process (bot, worker, CLI, tests) reads configuration from here. Leaving
``TEMPORAL_ADDRESS``, ``DATABASE_URL`` and ``REDIS_URL`` unset means "use the embedded
stack" (``diana up``); setting them points the very same code at external servers.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Final, Literal
from urllib.parse import quote, unquote, urlsplit

from pydantic import Field, FilePath, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent

# The emulator accepts any well-formed token; this one is used when none is configured.
EMULATOR_BOT_TOKEN = "100000001:DIANA-EMULATOR-TOKEN"
TELEGRAM_API_BASE = "https://api.telegram.org"
# The community channel the emulator creates, used when no channel is configured.
EMULATOR_COMMUNITY_CHANNEL = -1001000000001
# The private VIP channel the emulator creates (joined only through a single-use invite link).
EMULATOR_VIP_CHANNEL = -1001000000009
# On stop, how long the bot's updates and the worker's activities in hand may take to finish (within the 10 s a
# container gets after SIGTERM); what is unfinished goes to the next process.
DRAIN_SECONDS = 8.0

# The embedded Postgres: its database, the owner (a superuser: creates databases and roles, runs the migrations)
# and the application's role (the bot, the worker and the CLI: rows, never the schema or other roles).
EMBEDDED_DATABASE: Final = "diana"
EMBEDDED_OWNER_ROLE: Final = "postgres"
APP_ROLE: Final = "diana_app"
# The passwords `diana up` generates for the embedded servers, one file each under <data_dir>/secrets/ readable by
# its owner only (tools/stack.py writes them; the DSNs below read them).
EmbeddedSecret = Literal["postgres-owner", "postgres-app", "redis"]


class Settings(BaseSettings):
    """Diana's configuration, from the environment (and an optional ``.env`` file)."""

    # A refused value is named, never quoted: the whole environment is the input, secrets included. (The
    # error's .errors() and .json() still carry it: never log those.)
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    # Where the embedded stack keeps all of its data (git-ignored).
    data_dir: Path = Field(default=REPO_ROOT / ".diana", alias="DIANA_DATA_DIR")

    # External servers; empty means the embedded stack on loopback.
    temporal_address: str | None = Field(default=None, alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", alias="TEMPORAL_NAMESPACE")
    temporal_task_queue: str = Field(default="diana-journeys", alias="TEMPORAL_TASK_QUEUE")
    # Temporal Cloud or a cluster behind TLS: an API key (TLS implied), or mTLS with a client certificate
    # and key; a private CA and a server name for self-signed clusters. TLS is on when any of them is set.
    temporal_api_key: SecretStr | None = Field(default=None, alias="TEMPORAL_API_KEY")
    temporal_tls: bool | None = Field(default=None, alias="TEMPORAL_TLS")
    temporal_tls_cert: FilePath | None = Field(default=None, alias="TEMPORAL_TLS_CERT")
    temporal_tls_key: FilePath | None = Field(default=None, alias="TEMPORAL_TLS_KEY")
    temporal_tls_server_ca: FilePath | None = Field(default=None, alias="TEMPORAL_TLS_SERVER_CA")
    temporal_tls_server_name: str | None = Field(default=None, alias="TEMPORAL_TLS_SERVER_NAME")
    # The worker registers the journey's search attributes itself; on Temporal Cloud they are made with
    # tcld instead (the namespace endpoint does not take them), and the worker only checks they exist.
    temporal_register_search_attributes: bool = Field(default=True, alias="TEMPORAL_REGISTER_SEARCH_ATTRIBUTES")
    # How long Temporal keeps a closed journey's histories (an erased user's included) before deleting them; the
    # worker sets it on the namespace when it differs. 0 leaves the namespace as it is (set by whoever runs it).
    temporal_retention_days: int = Field(default=7, ge=0, le=3650, alias="TEMPORAL_RETENTION_DAYS")
    # URLs may carry passwords: kept out of reprs and logs like the token.
    database_url: SecretStr | None = Field(default=None, alias="DATABASE_URL")
    # The password apart from the URL (any characters, none to escape); used when DATABASE_URL has none.
    database_password: SecretStr | None = Field(default=None, alias="DATABASE_PASSWORD")
    redis_url: SecretStr | None = Field(default=None, alias="REDIS_URL")
    # Wraps the data keys that encrypt what journeys put into Temporal (base64 of 32 bytes; `diana keys new`).
    # Required with an external database; the embedded stack makes its own in the data folder. A rotation gives
    # the new one here and the old ones in DIANA_PREVIOUS_MASTER_KEYS until `diana keys rotate` has run.
    master_key: SecretStr | None = Field(default=None, alias="DIANA_MASTER_KEY")
    previous_master_keys: SecretStr | None = Field(default=None, alias="DIANA_PREVIOUS_MASTER_KEYS")
    # The worker's codec endpoint (Temporal's remote codec: /decode, /encode), for the Temporal UI and operators'
    # tools; loopback by default (it reads every journey: put it behind your own authentication). 0: none. The
    # origins are the Temporal UI's (CORS); empty means the embedded UI's.
    codec_listen_host: str = Field(default="127.0.0.1", alias="CODEC_LISTEN_HOST")
    codec_port: int = Field(default=8234, alias="CODEC_PORT", ge=0, le=65535)
    codec_cors_origins_raw: str = Field(default="", alias="CODEC_CORS_ORIGINS")

    # Ports of the embedded stack.
    embedded_temporal_port: int = Field(default=7233, alias="DIANA_TEMPORAL_PORT")
    embedded_temporal_ui_port: int = Field(default=8233, alias="DIANA_TEMPORAL_UI_PORT")
    embedded_postgres_port: int = Field(default=55432, alias="DIANA_POSTGRES_PORT")
    embedded_redis_port: int = Field(default=56379, alias="DIANA_REDIS_PORT")
    emulator_port: int = Field(default=8081, alias="DIANA_EMULATOR_PORT")
    # `diana play`'s web page (the playground, a Telegram-like client of the emulator), on loopback; 0: no page.
    playground_port: int = Field(default=8082, alias="DIANA_PLAYGROUND_PORT", ge=0, le=65535)

    # Telegram.
    telegram_bot_token: SecretStr | None = Field(default=None, alias="TELEGRAM_BOT_TOKEN")
    telegram_api_base: str = Field(default=TELEGRAM_API_BASE, alias="TELEGRAM_API_BASE")
    bot_mode: Literal["polling", "webhook"] = Field(default="polling", alias="BOT_MODE")
    webhook_url: str | None = Field(default=None, alias="WEBHOOK_URL")
    # Telegram takes 1-256 characters of A-Z, a-z, 0-9, _ and - (`openssl rand -hex 32` makes one).
    webhook_secret: SecretStr | None = Field(default=None, alias="WEBHOOK_SECRET")
    # Without a secret anyone who finds the webhook URL can post forged updates: opting out must be explicit.
    webhook_secret_required: bool = Field(default=True, alias="WEBHOOK_SECRET_REQUIRED")
    webhook_listen_host: str = Field(default="127.0.0.1", alias="WEBHOOK_LISTEN_HOST")
    webhook_listen_port: int = Field(default=8443, alias="WEBHOOK_LISTEN_PORT")
    webhook_path: str = Field(default="/telegram/webhook", alias="WEBHOOK_PATH")
    # Journeys inside Temporal's workflow sandbox: on in the tests, off by default (CPU; see worker.workflow_runner).
    workflow_sandbox: bool = Field(default=False, alias="WORKFLOW_SANDBOX")
    # How many updates Telegram pushes at once (one user's always one after another): 40 is Telegram's default.
    webhook_max_connections: int = Field(default=40, ge=1, le=100, alias="WEBHOOK_MAX_CONNECTIONS")

    # How long the bot waits for a journey's answer before telling the user to try again (and keeping the update for
    # support): a journey that cannot answer never holds up anyone else.
    journey_deadline_seconds: float = Field(default=10.0, alias="JOURNEY_DEADLINE_SECONDS", gt=0, le=60)
    # A payment a journey could not take yet is driven into it again this often, until it is applied.
    payment_retry_seconds: float = Field(default=30.0, alias="PAYMENT_RETRY_SECONDS", gt=0)

    # Where the content's media files are (``media[].file`` names files in this folder); bot, worker and CLI alike.
    media_dir: Path = Field(default=REPO_ROOT / "content" / "media", alias="DIANA_MEDIA_DIR")
    # Media Diana sends (story, posts, broadcasts) cannot be forwarded or saved, as the creator's bots always did.
    protect_content: bool = Field(default=True, alias="PROTECT_CONTENT")

    # Per-user rate limit (Redis): at most this many messages and presses per window; 0 turns it off.
    rate_limit_updates: int = Field(default=20, alias="RATE_LIMIT_UPDATES", ge=0)
    rate_limit_window_seconds: int = Field(default=10, alias="RATE_LIMIT_WINDOW_SECONDS", ge=1)

    # The community: Telegram ids of admins, and the channels whose posts and members count.
    admin_ids_raw: str = Field(default="", alias="ADMIN_IDS", pattern=r"^[\d,\s]*$")
    community_channel_ids_raw: str = Field(default="", alias="COMMUNITY_CHANNEL_IDS", pattern=r"^[-\d,\s]*$")
    # Free channels: their join requests are approved after the admin's delay (``bot.door``); empty means the
    # community channels (the VIP channel never is one). The bot must be an admin there.
    free_channel_ids_raw: str = Field(default="", alias="FREE_CHANNEL_IDS", pattern=r"^[-\d,\s]*$")
    # The private channel VIP users are let into (the bot must be an admin there).
    vip_channel_id_raw: int | None = Field(default=None, alias="VIP_CHANNEL_ID", lt=0)

    # Observability: where spans go (none, console or an OTLP/HTTP collector), the /health, /ready and
    # /metrics servers of the bot and the worker (port 0: none), and the level of the JSON logs.
    otel_exporter: Literal["none", "console", "otlp"] = Field(default="none", alias="OTEL_EXPORTER")
    otel_exporter_otlp_endpoint: str | None = Field(default=None, alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    health_listen_host: str = Field(default="127.0.0.1", alias="HEALTH_LISTEN_HOST")
    bot_health_port: int = Field(default=9101, alias="BOT_HEALTH_PORT", ge=0, le=65535)
    worker_health_port: int = Field(default=9102, alias="WORKER_HEALTH_PORT", ge=0, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", alias="LOG_LEVEL")

    @field_validator("temporal_api_key", "temporal_tls", "temporal_tls_cert", "temporal_tls_key",
                     "temporal_tls_server_ca", "temporal_tls_server_name", "vip_channel_id_raw",
                     "otel_exporter_otlp_endpoint", "database_password", "webhook_url", "webhook_secret",
                     "master_key", "previous_master_keys",
                     mode="before")  # fmt: skip
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``TEMPORAL_TLS_CERT=`` in a compose file or ``.env`` means "not set", not "the file named ''"."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("webhook_secret")
    @classmethod
    def _telegram_takes_the_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError(
                "WEBHOOK_SECRET: Telegram takes only 1-256 of A-Z a-z 0-9 _ - (try `openssl rand -hex 32`)"
            )
        return value

    @model_validator(mode="after")
    def _webhook_reaches_the_listener(self) -> Settings:
        """Telegram posts to WEBHOOK_URL and the bot listens on WEBHOOK_PATH: a URL without that path (or not
        HTTPS, which Telegram requires) would be registered fine and then never deliver an update."""
        if self.bot_mode != "webhook" or self.webhook_url is None:
            return self
        url = urlsplit(self.webhook_url)
        # A proxy may add a prefix it strips (https://host/diana/telegram/webhook), never another ending.
        if not url.path.endswith(self.webhook_path):
            raise ValueError(f"WEBHOOK_URL must end in WEBHOOK_PATH={self.webhook_path}, where the bot listens "
                             f"(https://<public host>{self.webhook_path}, or behind a proxy that strips a prefix)")  # fmt: skip
        # Telegram's own servers post over HTTPS only; the emulator or a local Bot API server may take HTTP.
        telegram_itself = not self.uses_emulator and self.telegram_api_base.rstrip("/") == TELEGRAM_API_BASE
        if telegram_itself and url.scheme != "https":
            raise ValueError("WEBHOOK_URL must be https://: Telegram posts only over HTTPS")
        return self

    @model_validator(mode="after")
    def _one_database_password(self) -> Settings:
        if self.database_password is None:
            return self
        if self.database_url is None:
            raise ValueError("DATABASE_PASSWORD needs DATABASE_URL (the embedded Postgres's passwords are generated)")
        if urlsplit(self.database_url.get_secret_value()).password is not None:
            raise ValueError("DATABASE_URL carries a password already: give it there or in DATABASE_PASSWORD, not both")
        return self

    @model_validator(mode="after")
    def _temporal_tls_is_consistent(self) -> Settings:
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (mTLS needs both)")
        if self.temporal_tls is False and self._temporal_tls_options:
            raise ValueError(f"TEMPORAL_TLS=false contradicts {', '.join(self._temporal_tls_options)}")
        if self.temporal_uses_tls and not self.temporal_address:
            raise ValueError("TLS to Temporal needs TEMPORAL_ADDRESS (the embedded server speaks no TLS)")
        return self

    @property
    def _temporal_tls_options(self) -> list[str]:
        """The TLS settings given (each one means TLS)."""
        given = {"TEMPORAL_API_KEY": self.temporal_api_key, "TEMPORAL_TLS_CERT": self.temporal_tls_cert,
                 "TEMPORAL_TLS_SERVER_CA": self.temporal_tls_server_ca,
                 "TEMPORAL_TLS_SERVER_NAME": self.temporal_tls_server_name}  # fmt: skip
        return [name for name, value in given.items() if value]

    @property
    def temporal_uses_tls(self) -> bool:
        return self.temporal_tls if self.temporal_tls is not None else bool(self._temporal_tls_options)

    @property
    def uses_emulator(self) -> bool:
        """No token and no other Bot API server: the bot talks to the project's own emulator."""
        return self.telegram_bot_token is None and self.telegram_api_base.rstrip("/") == TELEGRAM_API_BASE

    @property
    def bot_token(self) -> str:
        if self.telegram_bot_token is None:
            return EMULATOR_BOT_TOKEN
        return self.telegram_bot_token.get_secret_value()

    @property
    def bot_api_base(self) -> str:
        if self.uses_emulator:
            return f"http://127.0.0.1:{self.emulator_port}"
        return self.telegram_api_base.rstrip("/")

    @property
    def admin_ids(self) -> frozenset[int]:
        return frozenset(int(part) for part in self.admin_ids_raw.replace(",", " ").split())

    @property
    def community_channel_ids(self) -> tuple[int, ...]:
        """Channels whose posts carry reaction buttons and whose joins count; the first is where posts go."""
        ids = tuple(int(part) for part in self.community_channel_ids_raw.replace(",", " ").split())
        if not ids and self.uses_emulator:
            return (EMULATOR_COMMUNITY_CHANNEL,)
        return ids

    @property
    def free_channel_ids(self) -> frozenset[int]:
        """Channels whose join requests are approved after the admin's delay: FREE_CHANNEL_IDS, else the community's."""
        ids = tuple(int(part) for part in self.free_channel_ids_raw.replace(",", " ").split())
        return frozenset(ids or self.community_channel_ids) - {self.vip_channel_id}

    @property
    def vip_channel_id(self) -> int | None:
        if self.vip_channel_id_raw is None and self.uses_emulator:
            return EMULATOR_VIP_CHANNEL
        return self.vip_channel_id_raw

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.embedded_temporal_port}"

    @property
    def temporal_ui_url(self) -> str | None:
        if self.temporal_address:
            return None
        return f"http://127.0.0.1:{self.embedded_temporal_ui_port}"

    def secret_file(self, name: EmbeddedSecret) -> Path:
        """Where the embedded stack keeps the generated password ``name`` (mode 0600)."""
        return self.data_dir / "secrets" / f"{name}.password"

    def embedded_password(self, name: EmbeddedSecret) -> str | None:
        """The generated password ``name``; None before the first ``diana up`` made it."""
        try:
            return self.secret_file(name).read_text().strip() or None
        except FileNotFoundError:
            return None

    def embedded_postgres_dsn(self, *, owner: bool = False, database: str = EMBEDDED_DATABASE) -> str:
        """The embedded Postgres as the application's role, or as the owner, with the generated password."""
        secret: EmbeddedSecret = "postgres-owner" if owner else "postgres-app"
        role = EMBEDDED_OWNER_ROLE if owner else APP_ROLE
        return _url("postgresql", role, self.embedded_password(secret), self.embedded_postgres_port, database)

    @property
    def codec_endpoint(self) -> str | None:
        """Where the Temporal UI (in the operator's browser) reaches the worker's codec endpoint."""
        if not self.codec_port:
            return None
        host = "127.0.0.1" if self.codec_listen_host in ("0.0.0.0", "::", "") else self.codec_listen_host
        return f"http://{host}:{self.codec_port}"

    @property
    def codec_cors_origins(self) -> tuple[str, ...]:
        origins = tuple(part for part in self.codec_cors_origins_raw.replace(",", " ").split() if part)
        if origins:
            return origins
        ui = self.temporal_ui_url
        return (ui, ui.replace("127.0.0.1", "localhost")) if ui else ()

    @property
    def postgres_dsn(self) -> str:
        """What the bot, the worker and the CLI connect with: DATABASE_URL, or the embedded Postgres's app role."""
        if self.database_url:
            if self.database_password is None:
                return self.database_url.get_secret_value()
            url = urlsplit(self.database_url.get_secret_value())
            # Escaped here, so the password may hold any character (asyncpg unescapes it).
            user = quote(unquote(url.username or ""), safe="")
            password = quote(self.database_password.get_secret_value(), safe="")
            return url._replace(netloc=f"{user}:{password}@{url.netloc.rpartition('@')[2]}").geturl()
        return self.embedded_postgres_dsn()

    @property
    def postgres_owner_dsn(self) -> str:
        """What migrations run with: the schema's owner. An external server's is DATABASE_URL itself (compose gives
        its migrate service the owner's URL, and the bot and the workers the application role's)."""
        if self.database_url:
            return self.postgres_dsn
        return self.embedded_postgres_dsn(owner=True)

    @property
    def redis_dsn(self) -> str:
        if self.redis_url:
            return self.redis_url.get_secret_value()
        return _url("redis", "", self.embedded_password("redis"), self.embedded_redis_port, "0")


def _url(scheme: str, user: str, password: str | None, port: int, path: str) -> str:
    """A loopback URL of the embedded stack; the password escaped (the generated ones need none, a replaced one may)."""
    login = f"{quote(user, safe='')}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
    return f"{scheme}://{login}127.0.0.1:{port}/{path}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
