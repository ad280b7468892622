"""Content versions: read and check a content file, store it and activate it.

A stored version never changes (its document is keyed by its digest), so a journey that loaded
version N replays with the same version N forever, while new requests move on to the newest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import asyncpg
import yaml
from pydantic import TypeAdapter, ValidationError

from adapters.content_render import render_problems
from adapters.media_library import SHIPPED_MEDIA, media_file_problems, registered_media_problems
from workflows.consistency import content_voice_problems
from workflows.content import Calendar, Community, Content, Media, Shop, Vip, content_problems

SHIPPED_CONTENT: Final = Path(__file__).resolve().parent.parent / "content" / "diana.yaml"
# A content document is about 50 KB; one over this is refused before it is read (the admin's upload has the same cap).
MAX_CONTENT_BYTES: Final = 1024 * 1024


class ContentRefused(Exception):
    """A content document that must not be activated; ``problems`` says why, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class CheckedContent:
    content: Content
    digest: str


def parse_content(text: str) -> CheckedContent:
    """Parse and check a content document (YAML or JSON); raise ``ContentRefused`` with every problem.

    In-process and unbounded in time and memory: a document from outside (an upload, a file) is checked through
    ``adapters.content_checker.check_content``, which runs this in a child process with limits.
    """
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_CONTENT_BYTES:
        raise ContentRefused([f"the document is {size // 1024:,} KB; the limit is {MAX_CONTENT_BYTES // 1024:,} KB"])
    try:
        _refuse_anchors(text)
        document = _as_json(text)
        if document is None:
            document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ContentRefused([f"not valid YAML: {error}"]) from None
    except RecursionError:
        raise ContentRefused(["the document is nested too deeply to be content"]) from None
    if not isinstance(document, dict):
        raise ContentRefused(["the document must be a mapping with version, story, missions and achievements"])
    try:
        content = Content.model_validate(document)
    except ValidationError as error:
        raise ContentRefused(
            [f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors()]
        ) from None
    # The schema and the story graph, every text Diana says (each refused one with why, for the author), then every
    # screen a user can reach, which must fit in a Telegram message.
    problems = content_problems(content) + content_voice_problems(content) + render_problems(content)
    if problems:
        raise ContentRefused(problems)
    return CheckedContent(content=content, digest=content_digest(content))


def _as_json(text: str) -> object | None:
    """A JSON document read as JSON (None when it is not one): YAML would read an emoji's escaped surrogate pair
    ("\\ud83d\\udcf8", as ``json.dumps`` writes it) as two broken characters."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        document: object = json.loads(text)
    except json.JSONDecodeError:
        return None
    return document


def _refuse_anchors(text: str) -> None:
    """YAML anchors and aliases (``&a``, ``*a``) are refused before the document is built: a few lines of aliases to
    aliases expand to billions of nodes (the "billion laughs"), and content never needs them."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        # An alias (AliasEvent) names an anchor; a scalar, sequence or mapping may set one.
        if isinstance(event, yaml.NodeEvent) and (isinstance(event, yaml.AliasEvent) or event.anchor is not None):
            line = event.start_mark.line + 1 if event.start_mark is not None else 0
            raise ContentRefused([f"line {line}: YAML anchors and aliases (&{event.anchor}, *{event.anchor}) are not "
                                  "allowed in content; write each part out in full"])  # fmt: skip


def content_digest(content: Content) -> str:
    """What names a content version: the SHA-256 of its canonical JSON."""
    canonical = json.dumps(content.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def read_content_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ContentRefused([f"cannot read {path}: {error}"]) from None


def read_content_file(path: Path) -> CheckedContent:
    """A trusted file (the shipped content), checked in this process; see ``parse_content``."""
    return parse_content(read_content_text(path))


_MEDIA_LIST: Final = TypeAdapter(list[Media])
# The active version: the one activated last.
_ACTIVE: Final = "FROM content_versions WHERE activated_at IS NOT NULL ORDER BY activated_at DESC, version DESC LIMIT 1"


async def active_content(pool: asyncpg.Pool | asyncpg.Connection) -> tuple[int, str | None]:
    """The version journeys should play now (0: none activated yet) and its time zone."""
    row = await pool.fetchrow(f"SELECT version, document->'calendar'->>'timezone' AS timezone {_ACTIVE}")
    return (int(row["version"]), row["timezone"]) if row is not None else (0, None)


async def active_vip(pool: asyncpg.Pool | asyncpg.Connection) -> Vip | None:
    """The VIP plans of the active content (for admins making passes), or None before any activation."""
    section = await pool.fetchval(f"SELECT document->'vip' {_ACTIVE}")
    return Vip.model_validate_json(section) if section else None


async def active_community(pool: asyncpg.Pool | asyncpg.Connection) -> Community:
    """The active content's community settings (Diana's links), the defaults before any activation."""
    section = await pool.fetchval(f"SELECT document->'community' {_ACTIVE}")
    return Community.model_validate_json(section) if section else Community()


async def active_media(pool: asyncpg.Pool | asyncpg.Connection) -> dict[str, Media]:
    """The media the active content lists, by key (none before any activation)."""
    section = await pool.fetchval(f"SELECT document->'media' {_ACTIVE}")
    return {media.key: media for media in _MEDIA_LIST.validate_json(section)} if section else {}


async def active_shop(pool: asyncpg.Pool | asyncpg.Connection) -> tuple[Shop, str]:
    """The active content's shop (for admins reading orders and sales: the items' names) and its time zone."""
    row = await pool.fetchrow(
        f"SELECT document->'shop' AS shop, document->'calendar'->>'timezone' AS timezone {_ACTIVE}"
    )
    if row is None:
        return Shop(), Calendar().timezone
    return (Shop.model_validate_json(row["shop"]) if row["shop"] else Shop()), row["timezone"] or Calendar().timezone


async def active_version(pool: asyncpg.Pool | asyncpg.Connection) -> int:
    return (await active_content(pool))[0]


async def activate(conn: asyncpg.Connection, checked: CheckedContent, media_dir: Path = SHIPPED_MEDIA) -> int:
    """Store ``checked`` (once per digest) and make it the active version; returns its number.

    A new version may change and add fragments, never remove one: a running journey may stand on it. Its media must
    be there: shipped files in ``media_dir``, the rest registered by an admin (``/media``).
    """
    missing = media_file_problems(checked.content, media_dir) + await registered_media_problems(conn, checked.content)
    if missing:
        raise ContentRefused(missing)
    async with conn.transaction():
        current = await conn.fetchval(
            "SELECT document FROM content_versions WHERE activated_at IS NOT NULL "
            "ORDER BY activated_at DESC, version DESC LIMIT 1 FOR UPDATE"
        )
        if current is not None:
            before = {fragment["id"] for fragment in json.loads(current)["story"]["fragments"]}
            removed = sorted(before - set(checked.content.story.by_id))
            if removed:
                raise ContentRefused([f"fragments {', '.join(removed)} are in the active version; keep them"])
        version = await conn.fetchval(
            """
            INSERT INTO content_versions (label, sha256, document, activated_at)
            VALUES ($1, $2, $3::jsonb, clock_timestamp())
            ON CONFLICT (sha256) DO UPDATE SET activated_at = clock_timestamp()
            RETURNING version
            """,
            checked.content.version,
            checked.digest,
            json.dumps(checked.content.model_dump(mode="json"), ensure_ascii=False),
        )
    return int(version)


async def ensure_shipped_content(conn: asyncpg.Connection, path: Path = SHIPPED_CONTENT) -> int:
    """On a fresh database, activate the content shipped with the code; otherwise keep what is active."""
    version = await active_version(conn)
    if version:
        return version
    return await activate(conn, read_content_file(path))
