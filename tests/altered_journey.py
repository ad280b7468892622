"""Today's journey with one command fewer: what a careless change would look like (for the replay test).

Its own module, importing only what a workflow module may: the sandbox re-imports it.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import JourneyInput
    from workflows.journey import JourneyWorkflow


@workflow.defn(name="Journey")
class JourneyWithoutSearchAttributes(JourneyWorkflow):
    @workflow.run
    async def run(self, input: JourneyInput) -> str:
        self.publisher.publish = lambda state, settled=False: None  # type: ignore[method-assign, misc]
        return await super().run(input)
