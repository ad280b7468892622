"""Tools at the top: the CLIs, the embedded dev stack, the Bot API emulator and the terminal chat."""
