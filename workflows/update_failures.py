"""How a journey's faults stay small: a refused or failed request fails its Update, never the workflow task.

An exception other than ``ApplicationError`` in an update handler fails the workflow task, which Temporal retries
forever: every later update of that journey would wait behind it. One in the main loop would do the same, and an
``ApplicationError`` there would close the journey for good.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.content import ContentNotReadable
    from workflows.contracts import JourneyError
    from workflows.rules import Rejection


@contextmanager
def refused_as_update_failure() -> Iterator[None]:
    """A rejection by the rules, or a fault applying one request, fails the Update (nothing changes), never the
    workflow task: a task failing forever would hold every later update of the journey."""
    try:
        yield
    except Exception as fault:
        if _is_rejection(fault):
            raise ApplicationError(str(fault), type=fault.kind, non_retryable=True) from None  # type: ignore[attr-defined]
        if isinstance(fault, ApplicationError | ContentNotReadable):
            raise  # a refusal already, or a task Temporal must retry
        workflow.logger.exception("the journey could not apply an update")
        raise ApplicationError(type(fault).__name__, type=JourneyError.FAILED, non_retryable=True) from None


def _is_rejection(fault: Exception) -> bool:
    """A ``rules.Rejection``, from whichever copy of the rules raised it: Temporal's sandbox may run its own copy of
    the rules module beside this one's, so the class is recognised by name, not identity."""
    return any(
        cls.__name__ == Rejection.__name__ and cls.__module__ == Rejection.__module__ for cls in type(fault).__mro__
    )


@contextmanager
def contained(what: str) -> Iterator[None]:
    """Work of the journey's own (not a request's): a fault is logged and skipped, the journey goes on."""
    try:
        yield
    except ContentNotReadable:
        raise  # the task is retried: the same work, once the content can be read
    except Exception:
        workflow.logger.exception("the journey skipped %s after a fault", what)
