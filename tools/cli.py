"""``diana``: run the product and each of its parts against one configuration.

diana play       everything: servers, emulator (without a token), worker, bot, the terminal chat and the playground page
diana up         start the servers (Temporal + UI, Postgres, Redis); reuses what already runs
diana down       stop the servers
diana status     which servers answer
diana worker     the journey worker
diana bot        the bot (polling, or webhook with BOT_MODE=webhook)
diana emulator   the Telegram Bot API emulator on its own
diana chat       the terminal chat against a running emulator
diana migrate    apply (or with --to N roll back) the SQL migrations
diana content    check | activate | list content versions (story, missions, achievements)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from infra.settings import Settings, get_settings
from tools import stack

if TYPE_CHECKING:
    from tools.playground import Playground

CHAT_USER_ID = 424242


def _log_to_file(settings: Settings, name: str) -> None:
    """JSON log lines in ``.diana/<name>.log`` (the terminal is the chat's); console spans go there too."""
    from infra import telemetry

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    handler = telemetry.configure_logging(settings, service="diana", filename=str(settings.data_dir / f"{name}.log"))
    telemetry.setup_tracing(settings, service="diana", console=handler.stream)


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


def _serve(run: Callable[[Settings, asyncio.Event], Awaitable[None]], settings: Settings, service: str) -> None:
    """Run one part (worker, bot) until SIGINT/SIGTERM, then let it finish what it holds.

    Logs are JSON lines on stderr; spans go where ``OTEL_EXPORTER`` says (console: stdout).
    """
    from infra import telemetry

    telemetry.configure_logging(settings, service=service)
    telemetry.setup_tracing(settings, service=service)

    async def _main() -> None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        await run(settings, stop)

    try:
        asyncio.run(_main())
    finally:
        telemetry.shutdown_tracing()


async def _play(settings: Settings) -> None:
    from bot.main import run_bot
    from tools.emulator import BotAPIEmulator
    from tools.terminal_chat import TerminalChat, read_stdin
    from worker.main import run_worker

    stop = asyncio.Event()
    _stop_on_signals(stop)
    emulator = None
    if settings.uses_emulator:
        emulator = BotAPIEmulator()
        try:
            await emulator.start(port=settings.emulator_port)
        except OSError as error:
            raise stack.StackError(
                f"the Bot API emulator cannot listen on port {settings.emulator_port} ({error.strerror}); "
                "is another `diana play` running? (DIANA_EMULATOR_PORT picks another port)"
            ) from None
    try:
        playground = await start_playground(settings, emulator.base_url) if emulator is not None else None
    except stack.StackError:
        if emulator is not None:
            await emulator.stop()
        raise
    parts = [asyncio.create_task(run_worker(settings, stop)), asyncio.create_task(run_bot(settings, stop))]
    try:
        if emulator is None:
            print(
                f"Diana is running against the Bot API at {settings.bot_api_base}. Ctrl-C stops the bot and the worker."
            )
            await stop.wait()
            return
        name = _chat_name()
        if playground is not None:
            print(f"Playground (Diana en el navegador): {playground.url}")
        print(f"Diana te espera. Tu viaje en Temporal: journey-{CHAT_USER_ID}\n"
              "Escribe /start para empezar; un número pulsa un botón; /quit para salir.\n")  # fmt: skip
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        await read_stdin(lines)
        chat = asyncio.create_task(TerminalChat(emulator.base_url, CHAT_USER_ID, name).run(lines))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({chat, stopping, *parts}, return_when=asyncio.FIRST_COMPLETED)
        for task in (chat, stopping):
            task.cancel()
        for part in parts:
            if part.done() and part.exception():
                raise part.exception()  # type: ignore[misc]
    finally:
        stop.set()
        await asyncio.gather(*parts, return_exceptions=True)
        if playground is not None:
            await playground.stop()
        if emulator is not None:
            await emulator.stop()


async def start_playground(settings: Settings, emulator_url: str) -> Playground | None:
    """The web page of ``diana play`` on loopback (``DIANA_PLAYGROUND_PORT``; 0: none)."""
    from tools.playground import Channel, Playground, default_personas

    if not settings.playground_port:
        return None
    channels = [Channel(chat_id) for chat_id in settings.community_channel_ids]
    if settings.vip_channel_id is not None:
        channels.append(Channel(settings.vip_channel_id, members_only=True))
    playground = Playground(emulator_url, settings.bot_token, default_personas(settings.admin_ids), channels)
    try:
        await playground.start(port=settings.playground_port)
    except OSError as error:
        raise stack.StackError(
            f"the playground cannot listen on port {settings.playground_port} ({error.strerror}); "
            "is another `diana play` running? (DIANA_PLAYGROUND_PORT picks another port, 0 turns the page off)"
        ) from None
    return playground


def _chat_name() -> str:
    """The terminal user's first name in the chat: ``DIANA_CHAT_NAME``, else the login name."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # containers without a passwd entry
        login = ""
    name = os.environ.get("DIANA_CHAT_NAME") or ("" if login == "root" else login)
    return name.capitalize() if name else "Viajero"


async def _serve_emulator(settings: Settings) -> None:
    from tools.emulator import BotAPIEmulator

    stop = asyncio.Event()
    _stop_on_signals(stop)
    emulator = BotAPIEmulator()
    url = await emulator.start(port=settings.emulator_port)
    print(f"Bot API emulator on {url} (bot API: {url}/bot<token>/<method>, control: {url}/control/...)")
    await stop.wait()
    await emulator.stop()


async def _chat(settings: Settings) -> None:
    from tools.terminal_chat import TerminalChat, read_stdin

    lines: asyncio.Queue[str | None] = asyncio.Queue()
    await read_stdin(lines)
    await TerminalChat(settings.bot_api_base, CHAT_USER_ID, _chat_name()).run(lines)


async def _migrate(settings: Settings, target: int | None) -> int:
    from infra.migrate import migrate

    conn = await asyncpg.connect(settings.postgres_owner_dsn)  # the schema is the owner's
    try:
        return await migrate(conn, target)
    finally:
        await conn.close()


def _content(settings: Settings, action: str, file: Path | None) -> int:
    """``diana content check|activate|list|score|corpus``: the same validator as CI, activation without a deploy, and
    Diana's character score (of texts on stdin, and measured on the labelled corpus)."""
    from adapters.content_checker import check_content_sync
    from adapters.content_store import SHIPPED_CONTENT, ContentRefused, activate, read_content_text
    from workflows.consistency import PASSING_SCORE, score_json_line, score_text, texts_to_score

    if action == "list":
        return asyncio.run(_list_content(settings))
    if action == "score":
        for line in sys.stdin:
            if line.strip():
                print(score_json_line(line), flush=True)
        return 0
    if action == "corpus":
        return _corpus()
    path = file or SHIPPED_CONTENT
    try:
        # In a child process with time and memory limits: a file from anywhere may ask for more than it should.
        checked = check_content_sync(read_content_text(path))
    except ContentRefused as refused:
        print(f"{path}: {len(refused.problems)} problem(s):", file=sys.stderr)
        for problem in refused.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    from adapters.media_library import media_file_problems

    # The files it ships are in DIANA_MEDIA_DIR (media registered with /media is checked when it is activated).
    missing = media_file_problems(checked.content, settings.media_dir)
    if missing:
        print(f"{path}: {len(missing)} problem(s) with its media:", file=sys.stderr)
        for problem in missing:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    story = checked.content.story
    print(f"{path}: version {checked.content.version!r}, {len(story.fragments)} fragments, "
          f"{len(checked.content.missions)} missions, {len(checked.content.achievements)} achievements — valid")  # fmt: skip
    scores = [(score_text(text, lang).total, where) for where, text, lang in texts_to_score(checked.content)]
    lowest, where = min(scores)
    print(f"Diana's character: {len(scores)} texts, all at {PASSING_SCORE} or more; the lowest {lowest}/100 ({where})")
    for fragment in story.fragments:
        print(f"  {fragment.id}  Diana {score_text(fragment.text.es).total}/100  {fragment.title.es}")
    if action == "check":
        return 0

    async def _activate() -> int:
        conn = await asyncpg.connect(settings.postgres_dsn)
        try:
            return await activate(conn, checked, settings.media_dir)
        finally:
            await conn.close()

    try:
        version = asyncio.run(_activate())
    except ContentRefused as refused:
        print(f"not activated: {'; '.join(refused.problems)}", file=sys.stderr)
        return 1
    print(f"active content version: {version} (journeys pick it up on their next update)")
    return 0


def _corpus() -> int:
    """``diana content corpus``: the score measured on the labelled corpus; fails when the held-out part misses the
    bar (as CI requires)."""
    from workflows.voice.corpus import evaluate_corpus, format_report, load_corpus

    results = evaluate_corpus(dict(load_corpus()))
    print(format_report(results))
    heldout = results["heldout"]
    return 0 if heldout.overall.total and heldout.meets_requirement else 1


async def _list_content(settings: Settings) -> int:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        rows = await conn.fetch(
            "SELECT version, label, sha256, created_at, activated_at FROM content_versions ORDER BY version"
        )
    finally:
        await conn.close()
    active = max(rows, key=lambda row: (row["activated_at"] is not None, row["activated_at"]), default=None)
    for row in rows:
        marker = "*" if active is not None and row["version"] == active["version"] and row["activated_at"] else " "
        print(
            f"{marker} {row['version']:>3}  {row['label']:<24} {row['sha256'][:12]}  created {row['created_at']:%Y-%m-%d %H:%M}"
        )
    return 0


async def _reconcile(settings: Settings) -> int:
    """``diana payments reconcile``: recorded payments against Telegram's own list; exit 1 on any difference."""
    from adapters.stars import TelegramStars, reconcile
    from adapters.telegram import create_bot

    pool = await asyncpg.create_pool(settings.postgres_dsn, min_size=1, max_size=2)
    bot = create_bot(settings)
    try:
        differences = await reconcile(pool, TelegramStars(bot))
        recorded = await pool.fetchval("SELECT count(*) FROM payments")
    finally:
        await bot.session.close()
        await pool.close()
    for difference in differences:
        print(f"{difference.charge_id}: {difference.problem}")
    print(f"{recorded} recorded payment(s); {len(differences)} difference(s) with Telegram Stars")
    return 1 if differences else 0


async def _keys(settings: Settings, action: str) -> int:
    """``diana keys new|rotate``: a new master key; or every data key re-wrapped under the current one."""
    from infra.payload_keys import (
        MASTER_KEY_FILE,
        MasterKeys,
        master_keys,
        new_master_key,
        parse_master_key,
        rewrap_keys,
    )

    if action == "new":
        print(new_master_key())
        return 0
    masters = master_keys(settings)
    embedded = settings.master_key is None
    if embedded:
        # The embedded stack's own key: the new one is written beside it first (read as a previous key until the
        # rotation is done), so a rotation cut off halfway loses nothing and runs again to its end.
        current, following = settings.data_dir / MASTER_KEY_FILE, settings.data_dir / f"{MASTER_KEY_FILE}.next"
        if not following.exists():
            following.touch(mode=0o600)
            following.write_text(new_master_key() + "\n")
        masters = MasterKeys(parse_master_key(following.read_text(), str(following)), (masters.current,))
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        done, missing = await rewrap_keys(conn, masters)
    finally:
        await conn.close()
    if embedded and not missing:
        following.replace(current)
    print(f"{done} data key(s) re-wrapped under master key {masters.current.key_id}")
    if missing:
        print(f"still wrapped by unknown master key(s) {', '.join(missing)}: give them in DIANA_PREVIOUS_MASTER_KEYS "
              "and run `diana keys rotate` again", file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _print_up(settings: Settings) -> None:
    for line in stack.up(settings).lines:
        print(line)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="diana", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, text in (("play", "everything, with the terminal chat when no TELEGRAM_BOT_TOKEN is set"),
                       ("up", "start the servers"), ("down", "stop the servers"), ("status", "which servers answer"),
                       ("worker", "run the worker"), ("bot", "run the bot"), ("emulator", "run the Bot API emulator"),
                       ("chat", "terminal chat against a running emulator")):  # fmt: skip
        commands.add_parser(name, help=text)
    content_parser = commands.add_parser("content", help="check, activate or list content versions; score texts "
                                         "(JSON lines on stdin) or the labelled corpus")  # fmt: skip
    content_parser.add_argument("action", choices=("check", "activate", "list", "score", "corpus"))
    content_parser.add_argument("file", nargs="?", type=Path, help="a content file (YAML); default: the shipped one")
    payments_parser = commands.add_parser("payments", help="compare recorded payments with Telegram's own list")
    payments_parser.add_argument("action", choices=("reconcile",))
    keys_parser = commands.add_parser("keys", help="the master key of the payload encryption: `new` prints a fresh "
                                      "one; `rotate` re-wraps every data key under the current one (README)")  # fmt: skip
    keys_parser.add_argument("action", choices=("new", "rotate"))
    migrate_parser = commands.add_parser("migrate", help="apply or roll back SQL migrations")
    migrate_parser.add_argument("--to", type=int, default=None, help="target version (0 rolls everything back)")
    args = parser.parse_args(argv)
    settings = get_settings()
    command = args.command or "play"
    # What reaches the terminal is scrubbed as the logs are: a driver's error may quote its URL.
    from infra.telemetry import Redactor, secrets_of

    redact = Redactor(secrets_of(settings))
    try:
        if command == "up":
            _print_up(settings)
        elif command == "down":
            for line in stack.down(settings).lines:
                print(line)
        elif command == "status":
            for endpoint in (stack.temporal_endpoint(settings), stack.postgres_endpoint(settings),
                             stack.redis_endpoint(settings)):  # fmt: skip
                print(f"{endpoint.name}: {'answers' if endpoint.answers() else 'down'} on {endpoint.port}")
        elif command == "worker":
            from worker.main import run_worker

            _serve(run_worker, settings, "diana-worker")
        elif command == "bot":
            from bot.main import run_bot

            _serve(run_bot, settings, "diana-bot")
        elif command == "emulator":
            logging.basicConfig(level=logging.INFO)
            asyncio.run(_serve_emulator(settings))
        elif command == "chat":
            asyncio.run(_chat(settings))
        elif command == "migrate":
            print(f"schema at version {asyncio.run(_migrate(settings, args.to))}")
        elif command == "content":
            return _content(settings, args.action, args.file)
        elif command == "payments":
            return asyncio.run(_reconcile(settings))
        elif command == "keys":
            return asyncio.run(_keys(settings, args.action))
        elif command == "play":
            _print_up(settings)
            _log_to_file(settings, "play")
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(_play(settings))
            print("\nHasta pronto. The servers keep running (journeys persist): `diana down` stops them.")
    except stack.StackError as error:
        print(f"diana {command}: {redact(str(error))}", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"diana {command}: {redact(str(error))}", file=sys.stderr)
        return 2
    except (OSError, asyncpg.PostgresError) as error:
        print(f"diana {command}: cannot reach a server ({redact(str(error))}); is the stack up? (`diana up`)",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
