"""Chat with Diana from the terminal, as a user of the Bot API emulator.

Diana's messages are printed as they arrive; buttons are numbered (type the number to press
one); anything else you type is sent as a message. ``/quit`` or Ctrl-D leaves.
"""

from __future__ import annotations

import asyncio
import html
import re
import sys
import threading
from typing import Any, TextIO

import aiohttp

BOLD, ITALIC, DIM, RESET = "\033[1m", "\033[3m", "\033[2m", "\033[0m"


def to_terminal(text: str, *, color: bool) -> str:
    """Telegram HTML to terminal text."""
    if color:
        text = re.sub(r"<(b|strong)>", BOLD, text)
        text = re.sub(r"<(i|em)>", ITALIC, text)
        text = re.sub(r"</(b|strong|i|em)>", RESET, text)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


class TerminalChat:
    def __init__(self, control_url: str, user_id: int, first_name: str, *, out: TextIO = sys.stdout,
                 language_code: str = "es") -> None:  # fmt: skip
        self.control_url = control_url.rstrip("/")
        self.user_id = user_id
        self.first_name = first_name
        self.language_code = language_code
        self.out = out
        self.color = out.isatty()
        self.buttons: list[tuple[int, str, str]] = []  # (message_id, label, callback_data)
        self.seq = 0

    async def run(self, lines: asyncio.Queue[str | None]) -> None:
        async with aiohttp.ClientSession() as session:
            printer = asyncio.create_task(self._print_transcript(session))
            try:
                while (line := await lines.get()) is not None:
                    line = line.strip()
                    if not line:
                        continue
                    if line in ("/quit", "/exit"):
                        break
                    await self._act(session, line)
            finally:
                printer.cancel()

    async def _act(self, session: aiohttp.ClientSession, line: str) -> None:
        if line.isdigit() and 1 <= int(line) <= len(self.buttons):
            message_id, _, data = self.buttons[int(line) - 1]
            url, body = f"/control/users/{self.user_id}/press", {"message_id": message_id, "callback_data": data}
        else:
            url = f"/control/users/{self.user_id}/messages"
            body = {"text": line, "first_name": self.first_name, "language_code": self.language_code}
        try:
            async with session.post(self.control_url + url, json=body) as response:
                answer = await response.json()
        except aiohttp.ClientError:
            self._say(f"(no encuentro el emulador en {self.control_url}: ¿está en marcha `diana emulator`?)")
            return
        if not answer.get("ok"):
            self._say(f"{DIM}(no se pudo enviar: {answer.get('description')}){RESET}")

    async def _print_transcript(self, session: aiohttp.ClientSession) -> None:
        url = f"{self.control_url}/control/chats/{self.user_id}/transcript"
        while True:
            try:
                async with session.get(url, params={"after": self.seq, "wait": 20}) as response:
                    entries: list[dict[str, Any]] = (await response.json())["result"]
            except aiohttp.ClientError:
                await asyncio.sleep(1)
                continue
            for entry in entries:
                self.seq = max(self.seq, entry["seq"])
                self._show(entry)

    def _show(self, entry: dict[str, Any]) -> None:
        kind = entry["kind"]
        if kind in ("bot_message", "bot_edit"):
            marker = "Diana" if kind == "bot_message" else "Diana ✎"
            self._say(f"\n{BOLD if self.color else ''}{marker}:{RESET if self.color else ''} "
                      f"{to_terminal(entry.get('html') or html.escape(entry['text'] or ''), color=self.color)}")  # fmt: skip
            self.buttons = [(entry["message_id"], b["text"], b["callback_data"]) for row in entry["buttons"]
                            for b in row if b.get("callback_data")]  # fmt: skip
            for number, (_, label, _) in enumerate(self.buttons, start=1):
                self._say(f"   [{number}] {label}")
        elif kind == "callback_answer" and entry.get("text"):
            self._say(f"   {DIM if self.color else ''}({entry['text']}){RESET if self.color else ''}")

    def _say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


async def read_stdin(lines: asyncio.Queue[str | None]) -> None:
    """Feed stdin lines into ``lines`` (``None`` at end of input).

    A daemon thread does the blocking reads, so Ctrl-C never waits for one more Enter.
    """
    loop = asyncio.get_running_loop()

    def pump() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=pump, name="terminal-chat-stdin", daemon=True).start()
