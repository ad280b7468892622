"""Diana's voice: the scorer's rules (``scorer``), how a text is built (``structure``), its word lists (``lexicon``)
and patterns (``register``), its corpus (``corpus``) and which locale texts are hers (``locale_keys``).

Pure and deterministic: stdlib only, no I/O at import. ``workflows.consistency`` is the public face.
"""
