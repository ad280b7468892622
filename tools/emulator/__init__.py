"""A Telegram Bot API emulator speaking the real HTTP protocol, for tests and the terminal chat."""

from tools.emulator.server import BotAPIEmulator

__all__ = ["BotAPIEmulator"]
