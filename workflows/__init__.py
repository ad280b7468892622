"""The journey: one long-lived Temporal workflow per Telegram user, and the pure rules it plays.

Only the standard library, pydantic and ``temporalio.workflow`` may be imported here: the
workflow sandbox re-imports these modules for every run.
"""
