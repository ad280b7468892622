"""Diana's infrastructure: configuration, the embedded dev stack, migrations and the Bot API emulator."""
