"""Content from outside is checked in a child process, with limits on its time and memory.

``parse_content`` trusts nothing in a document, but its work grows with what the document asks for: a story's
combinations of flags, the size of its texts. An upload must never hold the bot's event loop, nor take the bot
down with it; so ``check_content`` runs the checks in ``python -m adapters.content_checker`` under an address space
limit (``RLIMIT_AS``), a CPU limit (``RLIMIT_CPU``) and a wall-clock deadline, and answers within ``seconds`` either
way: with the checked content, or with ``ContentRefused`` saying why.

The child reads the document on stdin and writes one JSON object on stdout: ``{"problems": [...]}`` or
``{"content": ..., "digest": ...}``; the parent rebuilds the ``Content`` from it (milliseconds) and checks the digest.

Measured (2 vCPUs, otherwise idle): the shipped content (47 KB) takes 3.8 s in the child, start-up included (about
0.3 s; nearly all the rest is Diana's character score of every text, the graph and screen checks take milliseconds),
with a peak of 42 MB resident; it still passes with 56 MiB of address space and runs out of memory at 48 MiB. A story
too branchy to check is refused at ``MAX_STORY_POINTS`` within a quarter of a second (then its texts are scored).
``CHECK_SECONDS`` is five times the shipped content's time; ``CHECK_MEMORY`` is far above its need, because address
space also counts mapped files (shared libraries, locale archives) whose size differs from one system to another.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import resource
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from adapters.content_store import CheckedContent, ContentRefused, content_digest, parse_content
from workflows.content import Content

# Wall-clock seconds the checks may take, start-up included (the shipped content needs about 4).
CHECK_SECONDS: Final = 20.0
# Address space the child may map (the shipped content needs about 56 MiB).
CHECK_MEMORY: Final = 1024 * 1024 * 1024
# The child's exit status when it ran out of memory and could still say so.
OUT_OF_MEMORY: Final = 3
_PROJECT_ROOT: Final = Path(__file__).resolve().parent.parent
# How running out of address space shows on stderr: a MemoryError, the loader failing to map a library, or (when an
# allocation fails where CPython cannot raise) a SystemError; nothing else in the child raises these.
_MEMORY_SIGNS: Final = (b"MemoryError", b"Cannot allocate memory", b"failed to map segment", b"SystemError",
                        b"std::bad_alloc", b"out of memory")  # fmt: skip


def _limiter(seconds: float, memory_bytes: int) -> Callable[[], None]:
    """What the child runs between fork and exec: two system calls on values computed here, nothing that could wait
    on a lock another thread of the parent held at fork time. Processor time past the deadline is a backstop (SIGXCPU,
    then SIGKILL); the wall-clock deadline comes first."""
    cpu = (math.ceil(seconds) + 1, math.ceil(seconds) + 2)
    memory = (memory_bytes, memory_bytes)
    setrlimit, cpu_limit, memory_limit = resource.setrlimit, resource.RLIMIT_CPU, resource.RLIMIT_AS

    def limit() -> None:
        setrlimit(cpu_limit, cpu)
        setrlimit(memory_limit, memory)

    return limit


async def check_content(
    text: str, *, seconds: float = CHECK_SECONDS, memory_bytes: int = CHECK_MEMORY
) -> CheckedContent:
    """``parse_content(text)`` in a child process with limits; raises ``ContentRefused`` with every problem, or with
    why the checks could not finish (time, memory, a crash)."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(_PROJECT_ROOT),
                                                                             os.environ.get("PYTHONPATH"))))}  # fmt: skip
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "adapters.content_checker",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=environment, preexec_fn=_limiter(seconds, memory_bytes),
        )  # fmt: skip
    except OSError as error:
        raise ContentRefused([f"the checks could not start: {error}"]) from None
    try:
        out, err = await asyncio.wait_for(child.communicate(text.encode("utf-8", errors="surrogatepass")), seconds)
    except TimeoutError:
        child.kill()
        await child.wait()
        raise ContentRefused([f"the checks did not finish within {seconds:g} s; simplify the content"]) from None
    except BaseException:
        if child.returncode is None:
            child.kill()
            await child.wait()
        raise
    return _answer(child.returncode, out, err, seconds)


def check_content_sync(
    text: str, *, seconds: float = CHECK_SECONDS, memory_bytes: int = CHECK_MEMORY
) -> CheckedContent:
    """``check_content`` for callers without an event loop (the CLI)."""
    return asyncio.run(check_content(text, seconds=seconds, memory_bytes=memory_bytes))


def _answer(status: int | None, out: bytes, err: bytes, seconds: float) -> CheckedContent:
    if status in (-signal.SIGXCPU, -signal.SIGKILL):  # past the processor time limit
        raise ContentRefused([f"the checks did not finish within {seconds:g} s; simplify the content"])
    if status == OUT_OF_MEMORY or (status != 0 and any(sign in err for sign in _MEMORY_SIGNS)):
        raise ContentRefused(["the checks ran out of memory; simplify the content"])
    if status != 0:
        last = err.decode("utf-8", errors="replace").strip().splitlines()[-1:] or [f"exit status {status}"]
        raise ContentRefused([f"the checks stopped unexpectedly ({last[0][:200]})"])
    try:
        answer = json.loads(out)
        problems = [str(problem) for problem in answer["problems"]] if "problems" in answer else []
        content = None if problems else Content.model_validate(answer["content"])
    except (ValueError, KeyError, TypeError, ValidationError):  # ValueError: not JSON
        raise ContentRefused(["the checks answered something unreadable"]) from None
    if content is None:
        raise ContentRefused(problems)
    digest = content_digest(content)
    if digest != answer.get("digest"):
        raise ContentRefused(["the checks answered something unreadable (the digest does not match)"])
    return CheckedContent(content=content, digest=digest)


def main() -> int:
    """The child: a document on stdin, its checks' outcome as JSON on stdout."""
    try:
        text = sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError:
        answer: dict[str, object] = {"problems": ["the document is not UTF-8 text"]}
    else:
        try:
            checked = parse_content(text)
        except ContentRefused as refused:
            answer = {"problems": refused.problems}
        except MemoryError:
            return OUT_OF_MEMORY
        else:
            answer = {"content": checked.content.model_dump(mode="json"), "digest": checked.digest}
    sys.stdout.buffer.write(json.dumps(answer, ensure_ascii=False).encode("utf-8"))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
