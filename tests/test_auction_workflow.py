"""The Auction workflow's own logic on a real Temporal server, its activities faked under their real names: what it
asks of the journeys when a winner is gone, a journey does not answer, an admin cancels, or a bid comes twice."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters import auctions
from workflows.auction import AuctionWorkflow
from workflows.auction_contracts import (
    AuctionInput,
    AuctionOutcome,
    AuctionRecord,
    AuctionReport,
    BidRequest,
    auction_workflow_id,
)
from workflows.contracts import WalletReply, WalletRequest


@dataclass
class FakeOutside:
    """The journeys, Postgres and Telegram as the auction sees them: what it asked, and how they answer."""

    capture_refused: bool = False
    silent: set[int] = field(default_factory=set)  # journeys that fail every request
    asked: list[WalletRequest] = field(default_factory=list)
    records: list[AuctionRecord] = field(default_factory=list)
    reports: list[AuctionReport] = field(default_factory=list)

    @activity.defn(name="ask_wallet")
    async def ask_wallet(self, request: WalletRequest) -> WalletReply:
        if request.user_id in self.silent and request.action == "reserve":
            raise ApplicationError("the journey did not answer", non_retryable=True)
        self.asked.append(request)
        if request.action == "capture" and self.capture_refused:
            return WalletReply(ok=False, refusal="closed")
        return WalletReply(ok=True, spendable=1000 - request.amount)

    @activity.defn(name="record_auction")
    async def record_auction(self, record: AuctionRecord) -> None:
        self.records.append(record)

    @activity.defn(name="report_auction")
    async def report_auction(self, report: AuctionReport) -> None:
        self.reports.append(report)

    def actions(self) -> list[tuple[str, int, str]]:
        return [(request.action, request.user_id, request.bid) for request in self.asked]


@pytest.fixture
async def outside() -> FakeOutside:
    return FakeOutside()


@pytest.fixture
async def auction_queue(temporal_env: WorkflowEnvironment, outside: FakeOutside) -> AsyncIterator[str]:
    queue = f"auctions-{uuid.uuid4().hex[:8]}"
    async with Worker(temporal_env.client, task_queue=queue, workflows=[AuctionWorkflow],
                      activities=[outside.ask_wallet, outside.record_auction, outside.report_auction]):  # fmt: skip
        yield queue


async def open_auction(client: Client, queue: str, *, seconds: float = 3) -> AuctionInput:
    auction = AuctionInput(auction_id=f"w{uuid.uuid4().hex[:10]}", item="retrato", title="Retrato", start_price=100,
                           increment=10, ends_at=datetime.now(UTC) + timedelta(seconds=seconds), extend_seconds=0,
                           created_by=7)  # fmt: skip
    await auctions.start(client, queue, auction)
    return auction


async def outcome_of(client: Client, auction: AuctionInput) -> AuctionOutcome:
    handle = client.get_workflow_handle(auction_workflow_id(auction.auction_id), result_type=AuctionOutcome)
    outcome: AuctionOutcome = await handle.result()
    return outcome


async def test_a_winner_whose_journey_is_gone_gets_nothing_and_the_admins_are_told(
    temporal_env: WorkflowEnvironment, auction_queue: str, outside: FakeOutside
) -> None:
    client = temporal_env.client
    outside.capture_refused = True
    auction = await open_auction(client, auction_queue)
    for bid_id, user, amount in (("b1", 1, 100), ("b2", 2, 110)):
        assert (await auctions.bid(client, auction.auction_id, BidRequest(bid_id=bid_id, user_id=user,
                                                                          amount=amount))).leading  # fmt: skip
    outcome = await outcome_of(client, auction)
    assert outcome.unclaimed and outcome.winner is None and outcome.status == "ended"
    assert outside.actions() == [("reserve", 1, "b1"), ("reserve", 2, "b2"), ("release", 1, "b1"),
                                 ("capture", 2, "b2")]  # fmt: skip
    assert [report.outcome.unclaimed for report in outside.reports] == [True]
    assert outside.records[-1].status == "ended"


async def test_a_journey_that_does_not_answer_refuses_the_bid_and_its_reserve_is_let_go(
    temporal_env: WorkflowEnvironment, auction_queue: str, outside: FakeOutside
) -> None:
    client = temporal_env.client
    outside.silent = {3}
    auction = await open_auction(client, auction_queue)
    result = await auctions.bid(client, auction.auction_id, BidRequest(bid_id="b3", user_id=3, amount=100))
    assert not result.leading and result.refusal == "unavailable"
    leading = await auctions.bid(client, auction.auction_id, BidRequest(bid_id="b4", user_id=4, amount=100))
    assert leading.leading, "the next bidder is not held up"
    outcome = await outcome_of(client, auction)
    assert (outcome.winner, outcome.amount, outcome.bids) == (4, 100, 1)
    # Whatever the silent journey may still take is let go; the winner pays.
    assert ("release", 3, "b3") in outside.actions() and outside.actions()[-1] == ("capture", 4, "b4")


async def test_a_cancelled_auction_releases_every_reserve_and_nobody_pays(
    temporal_env: WorkflowEnvironment, auction_queue: str, outside: FakeOutside
) -> None:
    client = temporal_env.client
    auction = await open_auction(client, auction_queue, seconds=600)
    for bid_id, user, amount in (("b1", 1, 100), ("b2", 2, 110), ("b3", 2, 130)):
        await auctions.bid(client, auction.auction_id, BidRequest(bid_id=bid_id, user_id=user, amount=amount))
    cancelled = await auctions.cancel(client, auction.auction_id, admin_id=7)
    assert cancelled.status == "cancelled"
    outcome = await outcome_of(client, auction)
    assert outcome.status == "cancelled" and outcome.winner is None
    assert not [a for a in outside.actions() if a[0] == "capture"]
    released = {(user, bid) for action, user, bid in outside.actions() if action == "release"}
    assert released == {(1, "b1"), (2, "b3")}, "the first outbid, and the leader's latest reserve"
    with pytest.raises(auctions.AuctionOver):
        await auctions.cancel(client, auction.auction_id, admin_id=7)
    assert [report.outcome.status for report in outside.reports] == ["cancelled"]


async def test_a_bid_asked_twice_is_one_bid_and_a_low_one_is_refused_before_the_history(
    temporal_env: WorkflowEnvironment, auction_queue: str, outside: FakeOutside
) -> None:
    client = temporal_env.client
    auction = await open_auction(client, auction_queue, seconds=600)
    handle = client.get_workflow_handle(auction_workflow_id(auction.auction_id))
    bid = BidRequest(bid_id="telegram-1", user_id=1, amount=100)
    first = await auctions.bid(client, auction.auction_id, bid)
    # Another Update id with the same bid (a new run no longer knows the first Update): answered from the state.
    again = await handle.execute_update(auctions.BID, bid, id="another-update-id")
    assert first.leading and again.leading and again.duplicate and not first.duplicate
    low = await auctions.bid(client, auction.auction_id, BidRequest(bid_id="telegram-2", user_id=2, amount=105))
    assert (low.leading, low.refusal, low.minimum) == (False, "too_low", 110)
    history = await handle.fetch_history()
    accepted = [e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")]
    assert len(accepted) == 2, "the low bid never entered the history"
    assert outside.actions() == [("reserve", 1, "telegram-1")]
    await auctions.cancel(client, auction.auction_id, admin_id=7)
    await outcome_of(client, auction)
