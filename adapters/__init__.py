"""Shared adapters: what the bot and the activities both need (texts, callback data, the Bot, storage helpers)."""
