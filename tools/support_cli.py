"""``diana-support``: what support staff do to one user's journey, one sub-command each.

USER is a Telegram user id or an @username. Every command that changes something needs a
``--reason`` and is written to the append-only audit log with who ran it (``--actor``, by
default ``support:<login>``). On an error nothing is changed and the exit code is 1 (2 for
bad arguments).

  show USER                      the journey's state beside its Postgres projection, and any disagreement
  history USER [--out FILE]      export the workflow history (JSON, as the Temporal CLI writes it)
  replay USER|FILE               replay a history against today's workflow code; exit 1 on nondeterminism
  reset USER --to last|first|EVENT --reason R [--no-reapply]
                                 rewind the journey, then make Postgres agree with it again
  repair USER --old-run RUN      finish a reset whose journey had not settled in time
  restart-story USER --reason R  the story from its first fragment (what was earned stays)
  grant USER AMOUNT --reason R   give besitos (a negative AMOUNT takes them back)
  grant USER --item CODE --reason R
                                 give a shop item (into the backpack, as a gift)
  deliver-order USER PURCHASE --reason R
                                 a creator's reward fulfilled by hand: the order (p<n>, see `show`) is delivered
  refund-purchase USER PURCHASE --reason R
                                 give a purchase's besitos back
  ban USER --reason R / unban USER --reason R
  export USER [--out FILE] --reason R
  erase USER --reason R          forget the user, as if they had asked
  import-vips FILE.csv --reason R
                                 make each listed user VIP until a date (telegram_user_id,vip_until[,plan][,username]),
                                 starting their journey if needed; resumable (each row applied once); exit 1 if any
                                 row was refused or failed (the others are applied all the same)
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.service import RPCError, RPCStatusCode

from adapters import received_payments, staff, vip_import
from adapters.content_store import active_content, active_vip
from adapters.stars import TelegramStars
from adapters.telegram import create_bot
from infra.connections import connect_temporal, create_pool, create_redis
from infra.payload_keys import MasterKeyMissing
from infra.settings import Settings, get_settings
from tools import support
from workflows.contracts import SupportAction


def actor_of(note: str = "") -> str:
    """Who runs a command, for the audit log: always the operating-system login; ``--actor`` adds a note to it (a
    shared login's person, a ticket), never replaces it."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "unknown"
    note = note.strip()[:100]
    return f"support:{login}" + (f" ({note})" if note else "")


def _reason(text: str) -> str:
    text = text.strip()
    if len(text) < 3 or len(text) > 500:
        raise argparse.ArgumentTypeError("a reason of 3 to 500 characters")
    return text


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="diana-support", description=__doc__,
                                   formatter_class=argparse.RawTextHelpFormatter)  # fmt: skip
    root.add_argument(
        "--actor",
        type=actor_of,
        default=actor_of(),
        metavar="NOTE",
        help="a note on who is running this, added to your login in the audit log",
    )
    commands = root.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, text: str, *, changes: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text)
        sub.add_argument("user", metavar="USER", help="Telegram user id or @username")
        if changes:
            sub.add_argument("--reason", required=True, type=_reason, help="why (written to the audit log)")
        return sub

    command("show", "state beside the Postgres projection").add_argument("--json", action="store_true")
    command("history", "export the workflow history").add_argument("--out", type=Path)
    commands.add_parser("replay", help="replay a history against today's code").add_argument("source",
                                                                                             metavar="USER|FILE")  # fmt: skip
    reset = command("reset", "rewind the journey (Temporal reset) and repair the projection", changes=True)
    reset.add_argument(
        "--to", required=True, help="'last' or 'first' completed workflow task, or its event id: that task runs again"
    )
    reset.add_argument(
        "--no-reapply", action="store_true", help="drop the Updates from the reset point on (the task's own too)"
    )
    repair = command("repair", "finish the projection repair of an earlier reset")
    repair.add_argument("--old-run", required=True, help="the run id the reset replaced (see the audit log)")
    command("restart-story", "the story from its first fragment", changes=True)
    grant = command("grant", "give (or, negative, take back) besitos, or give a shop item", changes=True)
    grant.add_argument("amount", type=int, nargs="?", help="besitos (leave out with --item)")
    grant.add_argument("--item", metavar="CODE", help="a shop item's code: given instead of besitos")
    for name, text in (("deliver-order", "mark a waiting order (a creator's reward) delivered"),
                       ("refund-purchase", "give a purchase's besitos back")):  # fmt: skip
        command(name, text, changes=True).add_argument("purchase", metavar="PURCHASE", help="its id (p<n>, see show)")
    command("ban", "refuse everything from the user", changes=True)
    command("unban", "lift a ban", changes=True)
    command("export", "everything about the user, as a JSON file", changes=True).add_argument("--out", type=Path)
    command("erase", "forget the user", changes=True)
    refund = command("refund", "give a Stars payment back (through Telegram), VIP ends", changes=True)
    refund.add_argument("charge", help="the Telegram payment charge id")
    commands.add_parser("dead-letters", help="updates kept for support (no journey took them), not re-driven yet")
    redrive = commands.add_parser("redrive", help="hand a kept update to the bot's handlers again")
    redrive.add_argument("letter", type=int, metavar="ID", help="its id, from `dead-letters`")
    redrive.add_argument("--reason", required=True, type=_reason, help="why (written to the audit log)")
    imports = commands.add_parser("import-vips", help="make the listed users VIP until a date (a CSV file)")
    imports.add_argument("file", type=Path, metavar="FILE.csv")
    imports.add_argument("--reason", required=True, type=_reason, help="why (written to the audit log)")
    imports.add_argument("--concurrency", type=int, default=vip_import.CONCURRENCY, choices=range(1, 33),
                         metavar="N", help="journeys changed at once (1 to 32)")  # fmt: skip
    commands.add_parser("payments", help="payments received and not applied to a journey (nor refunded)")
    apply = commands.add_parser("apply-payment", help="drive a received payment into its journey now")
    apply.add_argument("charge", help="the Telegram payment charge id")
    apply.add_argument("--reason", required=True, type=_reason, help="why (written to the audit log)")
    return root


async def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        client = await connect_temporal(settings)
    except RuntimeError as error:  # the SDK's "Failed client connect"
        raise ConnectionError(f"Temporal at {settings.temporal_target}: {error}") from None
    pool = await create_pool(settings.postgres_dsn, max_size=3)
    try:
        return await _command(args, settings, client, pool)
    finally:
        await pool.close()


async def _command(args: argparse.Namespace, settings: Settings, client: Any, pool: asyncpg.Pool) -> int:
    if args.command in ("dead-letters", "redrive", "payments", "apply-payment"):
        return await _kept(args, settings, client, pool)
    if args.command == "import-vips":
        return await import_vips(args, settings, client, pool)
    if args.command == "replay":
        history = await support.load_history(client, pool, args.source)
        replayed = await support.replay(history, pool)
        if replayed.failure is not None:
            print(f"{args.source}: NOT deterministic on today's code ({replayed.events} events):\n  {replayed.failure}")
            return 1
        print(f"{args.source}: {replayed.events} events replay on today's code without nondeterminism")
        return 0
    user_id = await staff.resolve_user(pool, args.user)
    if args.command == "show":
        view = await staff.view(client, pool, user_id)
        if args.json:
            print(view.state.model_dump_json(indent=2))
        print("\n".join(view.lines()))
        return 1 if view.disagreements and not view.state.pending_effects else 0
    if args.command == "history":
        out = args.out or Path(f"journey-{user_id}.json")
        events = await support.export_history(client, user_id, out)
        print(f"{events} events written to {out}")
        return 0
    if args.command in ("reset", "repair"):
        redis = create_redis(settings.redis_dsn)
        try:
            if args.command == "reset":
                outcome = await support.reset(client, pool, redis, user_id, to=args.to, reason=args.reason,
                                              actor=args.actor, reapply=not args.no_reapply)  # fmt: skip
                print(
                    f"journey-{user_id} reset to {outcome.point.described}: run {outcome.old_run} -> {outcome.new_run}"
                )
            else:
                new_run = (await client.get_workflow_handle(f"journey-{user_id}").describe()).run_id
                outcome = await support.repair(client, pool, redis, user_id, old_run=args.old_run, new_run=new_run,
                                               actor=args.actor)  # fmt: skip
        finally:
            await redis.aclose()
        for correction in outcome.corrections:
            print(f"  ledger {correction.key}: {correction.amount:+d} ({correction.why})")
        print(f"  rewritten from the journey: {', '.join(outcome.repaired)}")
        if outcome.remaining:
            print("  still disagreeing:\n" + "\n".join(f"    - {line}" for line in outcome.remaining))
            return 1
        print("  Postgres agrees with the journey.")
        return 0
    if args.command == "export":
        out = args.out or Path(f"diana-{user_id}.json")
        await support.export_user(client, pool, user_id, out, actor=args.actor, reason=args.reason)
        print(f"user {user_id} exported to {out}")
        return 0
    if args.command == "refund":
        bot = create_bot(settings)
        try:
            done = await staff.refund(client, pool, TelegramStars(bot), user_id, args.charge, actor=args.actor,
                                      reason=args.reason)  # fmt: skip
        finally:
            await bot.session.close()
        print(f"journey-{user_id}: {done or 'refunded by Telegram; the journey had not received that payment'}")
        return 0
    action = {"restart-story": "restart_story", "deliver-order": "deliver_order",
              "refund-purchase": "refund_purchase"}.get(args.command, args.command)  # fmt: skip
    if args.command == "grant":
        action = _grant_action(args)
    reply = await staff.change(client, pool, user_id, action, actor=args.actor, reason=args.reason,
                               amount=getattr(args, "amount", None) or 0, item=getattr(args, "item", None) or "",
                               purchase=getattr(args, "purchase", ""))  # fmt: skip
    if action == "erase" and not reply.duplicate:
        # The journey ends once the data is gone: report done only then (or once it is deleted from Temporal too).
        try:
            await asyncio.wait_for(client.get_workflow_handle(f"journey-{user_id}").result(), support.SETTLE_TIMEOUT)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
    print(f"journey-{user_id}: {reply.message}")
    return 0


async def import_vips(args: argparse.Namespace, settings: Settings, client: Any, pool: asyncpg.Pool) -> int:
    """Every row checked first, the valid ones applied (each once), then the report."""
    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise staff.SupportError(f"cannot read {args.file}: {error}") from None
    version, zone = await active_content(pool)
    vip = await active_vip(pool)
    if version == 0 or zone is None or vip is None:
        raise staff.SupportError("no content version is active: `diana content activate` first")
    rows, refused = vip_import.parse(text, now=datetime.now(UTC), zone=zone, plans=vip.plans_by_code)
    report = vip_import.ImportReport(rows=len(rows) + len(refused), refused=refused)
    try:
        await vip_import.apply(client, pool, settings.temporal_task_queue, version, rows, actor=args.actor,
                               reason=args.reason, source=f"{args.file.name} sha256:{vip_import.digest(text)}",
                               concurrency=args.concurrency, report=report)  # fmt: skip
    finally:  # interrupted too: what was done so far (running the file again applies only the rest)
        print(f"import-vips {args.file}: " + "\n".join(report.lines()))
    return 1 if report.refused or report.failed else 0


def _grant_action(args: argparse.Namespace) -> SupportAction:
    """``grant`` gives besitos or (``--item``) a shop item, never both, never neither."""
    if (args.amount is None) == (args.item is None):
        raise staff.SupportError("grant takes an AMOUNT of besitos or --item CODE (one of them)")
    if args.item is not None and not args.item.strip():
        raise staff.SupportError("--item needs a shop item's code")
    return "grant" if args.item is None else "give_item"


async def _kept(args: argparse.Namespace, settings: Settings, client: Any, pool: asyncpg.Pool) -> int:
    """What no journey took: kept updates and payments not applied."""
    if args.command == "dead-letters":
        rows = await support.dead_letters(pool)
        for row in rows:
            print(f"{row['id']}\t{row['created_at']:%Y-%m-%d %H:%M}\tupdate {row['update_id']}\t"
                  f"user {row['telegram_user_id'] or '-'}\t{row['error']}")  # fmt: skip
        print(f"{len(rows)} updates waiting")
        return 0
    if args.command == "payments":
        rows = await received_payments.open_payments(pool)
        for row in rows:
            who = "needs support" if row["needs_support"] else "waiting for the journey"
            print(f"{row['charge_id']}\tuser {row['telegram_user_id'] or '- (erased)'}\t{row['amount']} "
                  f"{row['currency']}\t{row['received_at']:%Y-%m-%d %H:%M}\t{who}: {row['problem'] or '-'}")  # fmt: skip
        print(f"{len(rows)} payments not applied")
        return 0
    if args.command == "apply-payment":
        print(await support.apply_payment(settings, client, pool, args.charge, actor=args.actor, reason=args.reason))
        return 0
    redis = create_redis(settings.redis_dsn)
    try:
        again = await support.redrive(settings, client, pool, redis, args.letter, actor=args.actor, reason=args.reason)
    finally:
        await redis.aclose()
    if again is not None:
        print(f"dead letter {args.letter} re-driven, and kept again: {again}")
        return 1
    print(f"dead letter {args.letter} re-driven and handled")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return asyncio.run(run(args, get_settings()))
    except staff.SupportError as error:
        print(f"diana-support {args.command}: {error}; nothing changed", file=sys.stderr)
        return 1
    except MasterKeyMissing as error:
        print(f"diana-support {args.command}: {error}", file=sys.stderr)
        return 2
    except (OSError, RPCError, asyncpg.PostgresError) as error:
        print(f"diana-support {args.command}: cannot reach a server ({error}); is the stack up? (`diana up`)",
              file=sys.stderr)  # fmt: skip
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
