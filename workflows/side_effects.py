"""The activities the workflows ask for, declared by signature; the ``activities`` package carries them out.

Workflows refer to an activity by its method here (``workflow.execute_activity_method(Payments.send_invoice,
...)``), as temporalio's samples do: typed, and never a name spelled out in two places. Each class in
``activities`` subclasses its declaration and decorates the same method names, so the registered names match.
The declarations never run.
"""

from __future__ import annotations

import datetime as dt

from temporalio import activity

from workflows.auction_contracts import AuctionRecord, AuctionReport
from workflows.broadcast_contracts import BroadcastPage, BroadcastRecord, PageOutcome, RecipientsPage, RecipientsRequest
from workflows.contracts import (
    CloseVipChannel,
    EditStarSubscription,
    EraseData,
    ExportData,
    ForgetJourney,
    LeftoverKeys,
    Notify,
    OpenVipChannel,
    PassRedemption,
    ProjectionBatch,
    ProjectionOutcome,
    RecordPayment,
    RedeemPass,
    RefundPayment,
    SaveSubscription,
    SendInvoice,
    StockClaim,
    StockClaimed,
    UpdateLeaderboard,
    WalletReply,
    WalletRequest,
)
from workflows.door_contracts import DoorAnswer, DoorMessage, DoorOutcome
from workflows.referral_contracts import ReferralResolved, ResolveReferral, SaveReferralCode, TellReferrer


class Projection:
    """Postgres, the journey's projection."""

    @activity.defn
    async def record_projection(self, batch: ProjectionBatch) -> ProjectionOutcome:
        """A turn's rows in one transaction, in order; the leaderboard totals after it."""
        raise NotImplementedError

    @activity.defn
    async def erase_personal_data(self, effect: EraseData) -> None:
        raise NotImplementedError


class Leaderboards:
    """Redis sorted sets."""

    @activity.defn
    async def update_leaderboard(self, effect: UpdateLeaderboard) -> None:
        raise NotImplementedError


class Messages:
    """What the journey sends on its own in Telegram, each once."""

    @activity.defn
    async def send_notification(self, effect: Notify) -> None:
        raise NotImplementedError

    @activity.defn
    async def send_data_export(self, effect: ExportData) -> None:
        raise NotImplementedError


class Payments:
    """Telegram Stars, and payments, subscriptions and VIP passes in Postgres."""

    @activity.defn
    async def send_invoice(self, effect: SendInvoice) -> None:
        raise NotImplementedError

    @activity.defn
    async def record_payment(self, effect: RecordPayment) -> None:
        raise NotImplementedError

    @activity.defn
    async def record_subscription(self, effect: SaveSubscription) -> None:
        raise NotImplementedError

    @activity.defn
    async def refund_payment(self, effect: RefundPayment) -> None:
        raise NotImplementedError

    @activity.defn
    async def redeem_vip_pass(self, claim: RedeemPass) -> PassRedemption:
        raise NotImplementedError

    @activity.defn
    async def edit_star_subscription(self, effect: EditStarSubscription) -> None:
        """Cancel or resume a Stars subscription's renewals at Telegram (already so counts as done)."""
        raise NotImplementedError


class Referrals:
    """Invitation codes in Postgres, and what a newcomer's journey tells the referrer's journey."""

    @activity.defn
    async def resolve_referral_code(self, request: ResolveReferral) -> ReferralResolved:
        raise NotImplementedError

    @activity.defn
    async def save_referral_code(self, effect: SaveReferralCode) -> None:
        raise NotImplementedError

    @activity.defn
    async def tell_referrer(self, effect: TellReferrer) -> None:
        """The referrer's journey applies the event once (``JourneyWorkflow.referral``)."""
        raise NotImplementedError


class Shop:
    """Limited shop items in Postgres, claimed atomically across all users."""

    @activity.defn
    async def claim_stock(self, claim: StockClaim) -> StockClaimed:
        """One unit for this claim, if any is left; the same claim again answers the same (retries)."""
        raise NotImplementedError


class Auctions:
    """What an auction asks of its bidders' journeys, and where it is shown."""

    @activity.defn
    async def ask_wallet(self, request: WalletRequest) -> WalletReply:
        """The bidder's journey applies the request once (``JourneyWorkflow.wallet``)."""
        raise NotImplementedError

    @activity.defn
    async def record_auction(self, record: AuctionRecord) -> None:
        """The ``auctions`` row (the bot's list, the dashboard); an older change never overwrites a newer one."""
        raise NotImplementedError

    @activity.defn
    async def report_auction(self, report: AuctionReport) -> None:
        """Each admin is told once how the auction ended."""
        raise NotImplementedError


class VipChannel:
    """The private VIP channel's door."""

    @activity.defn
    async def open_vip_channel(self, effect: OpenVipChannel) -> None:
        raise NotImplementedError

    @activity.defn
    async def close_vip_channel(self, effect: CloseVipChannel) -> None:
        raise NotImplementedError


class Door:
    """The free channels' door: join requests approved after the admin's delay (``workflows.door``)."""

    @activity.defn
    async def door_banned(self, user_id: int) -> bool:
        """Whether staff banned the user (their journey says so; no journey: not banned)."""
        raise NotImplementedError

    @activity.defn
    async def send_door_message(self, message: DoorMessage) -> None:
        raise NotImplementedError

    @activity.defn
    async def door_answer(self, answer: DoorAnswer) -> DoorOutcome:
        """Approve or decline once: a request already approved is found approved, one gone is "withdrawn"."""
        raise NotImplementedError


class Broadcasting:
    """One admin text to a segment, paged and paced."""

    @activity.defn
    async def broadcast_recipients(self, request: RecipientsRequest) -> RecipientsPage:
        raise NotImplementedError

    @activity.defn
    async def send_broadcast_page(self, page: BroadcastPage) -> PageOutcome:
        raise NotImplementedError

    @activity.defn
    async def record_broadcast(self, record: BroadcastRecord) -> None:
        raise NotImplementedError

    @activity.defn
    async def finish_broadcast(self, record: BroadcastRecord) -> None:
        raise NotImplementedError


class Forgetting:
    """Temporal and Postgres, deleting an erased journey (``workflows.deletion``)."""

    @activity.defn
    async def journey_closed(self, forget: ForgetJourney) -> dt.datetime | None:
        """When the erased journey's run closed; fails (to be retried) while it still runs."""
        raise NotImplementedError

    @activity.defn
    async def destroy_keys(self, key_ids: list[str]) -> int:
        raise NotImplementedError

    @activity.defn
    async def delete_runs(self, forget: ForgetJourney) -> list[str]:
        """Deletes every run of the erased chain; returns their ids."""
        raise NotImplementedError

    @activity.defn
    async def retire_leftover_keys(self, leftover: LeftoverKeys) -> LeftoverKeys:
        raise NotImplementedError

    @activity.defn
    async def discard_unused_keys(self, leftover: LeftoverKeys) -> int:
        raise NotImplementedError

    @activity.defn
    async def destroy_own_keys(self) -> None:
        """Returns nothing: a result would be encrypted under a new key of the workflow's own."""
        raise NotImplementedError
