"""The playground: play Diana in a browser, as a Telegram-like client of the Bot API emulator (``diana play``)."""

from tools.playground.server import Channel, Persona, Playground, default_personas

__all__ = ["Channel", "Persona", "Playground", "default_personas"]
