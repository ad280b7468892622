"""Payments: invoices, pre-checkout queries, successful payments, Telegram Stars transactions and refunds.

A payment goes as in Telegram: the user pays an invoice (a message with ``invoice``, an invoice link, or
a forged payload), the bot gets a ``pre_checkout_query`` and has :data:`PRE_CHECKOUT_TIMEOUT` seconds to
answer it; on ``ok`` the user's private chat gets a message with ``successful_payment``. An invoice
message can be paid once, an invoice link any number of times. Payments in Stars (``XTR``) are Star
transactions (``getStarTransactions``) and can be refunded (``refundStarPayment``); a refund puts a
``refunded_payment`` service message in the private chat, which the bot receives like any message.

Subscriptions, as Telegram Stars subscriptions go: an invoice link made with ``subscription_period`` (2592000 s only,
in Stars, one price of at most 2500) is paid like any link and starts a subscription (the successful payment has
``is_recurring``, ``is_first_recurring`` and ``subscription_expiration_date``). Telegram charges it again when its
period is due, with no pre-checkout query: the control API advances it to that moment; the renewal is one more
``successful_payment`` (``is_recurring``, the same payload, a new charge id, the period after). A user without
enough Stars is not charged and the subscription lapses, with nothing sent, as in Telegram; so does one canceled by
the bot (``editUserStarSubscription``, which can resume it while its period runs) or refunded. Every user has
:data:`DEFAULT_STARS` Stars unless the control API says otherwise; each payment in Stars takes from them.

Control API:

- ``POST /control/users/{user_id}/stars`` with {"balance"}: the user's Stars; returns {"balance"}.
- ``POST /control/users/{user_id}/subscriptions/renew`` with {"invoice_link"?}: every active subscription of the
  user (or the one of that link) reaches the end of its period: charged, or ended (canceled, or not enough Stars).
  Returns a list of ``{"subscription_id", "outcome" ("renewed", "canceled", "insufficient_stars"),
  "telegram_payment_charge_id", "update_id", "subscription_expiration_date"}``.
- ``GET /control/subscriptions``: every subscription: ``{"subscription_id" (its first charge id), "user_id",
  "invoice_link", "invoice_payload", "total_amount", "period", "expiration_date", "canceled", "active",
  "charges"}``.
- ``GET /control/invoice_links``: every invoice link the bot created, as a user's app shows it before paying:
  ``{"invoice_link", "title", "description", "currency", "total_amount", "subscription_period"}`` (0: not a
  subscription; the payload is the bot's and not shown).

- ``POST /control/users/{user_id}/pay`` with exactly one of {"message_id"}, {"invoice_link"} or
  {"payload", "currency"? (default "XTR"), "total_amount"}, plus profile fields: waits for the bot's answer
  and returns ``{"pre_checkout_query_id", "answered", "ok", "error_message", "telegram_payment_charge_id",
  "update_id"}`` (``update_id``: the successful_payment message's update, null when nothing was paid).
- ``GET /control/payments``: every charge, oldest first: ``{"telegram_payment_charge_id",
  "provider_payment_charge_id", "user_id", "currency", "total_amount", "invoice_payload", "date",
  "refunded", "refunded_at"}``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from aiogram.types import (
    Chat,
    Invoice,
    Message,
    PreCheckoutQuery,
    RefundedPayment,
    StarTransaction,
    SuccessfulPayment,
    TransactionPartnerUser,
    Update,
    User,
)
from aiohttp import web

from tools.emulator.common import (
    QUERY_TOO_OLD,
    Handler,
    bool_param,
    buttons_of,
    dump,
    int_param,
    json_body,
    ok_response,
    profile_of,
    required_str,
    user_id_param,
)
from tools.emulator.markup import BadRequest, check_reply_markup

if TYPE_CHECKING:
    from tools.emulator.server import BotAPIEmulator

PRE_CHECKOUT_TIMEOUT: Final = 10.0  # seconds Telegram gives the bot to answer a pre-checkout query
STARS: Final = "XTR"
MAX_STARS: Final = 10000
MAX_TITLE: Final = 32
MAX_DESCRIPTION: Final = 255
MAX_PAYLOAD_BYTES: Final = 128
INVOICE_LINK_PREFIX: Final = "https://t.me/$"
SUBSCRIPTION_PERIOD: Final = 2_592_000  # the only period Telegram allows: 30 days
MAX_SUBSCRIPTION_STARS: Final = 2500
DEFAULT_STARS: Final = 100_000  # a user's Stars unless a test says otherwise
# Stars, and the provider currencies a test is likely to try; Telegram knows more.
CURRENCIES: Final = frozenset({STARS, "USD", "EUR", "GBP", "RUB", "UAH", "BRL", "MXN", "ARS", "INR", "JPY"})
_PRICE: Final = "Bad Request: can't parse labeled price: "


@dataclass
class Terms:
    """What an invoice asks for."""

    title: str
    description: str
    payload: str
    currency: str
    prices: list[dict[str, Any]]
    start_parameter: str = ""
    subscription_period: int = 0

    @property
    def total_amount(self) -> int:
        return sum(int(price["amount"]) for price in self.prices)


@dataclass
class PreCheckout:
    """A pre-checkout query and the bot's answer; ``expired`` once the user's app stopped waiting."""

    id: str
    user_id: int
    currency: str
    total_amount: int
    payload: str
    answered: bool = False
    ok: bool | None = None
    error_message: str | None = None
    expired: bool = False


@dataclass
class Charge:
    telegram_payment_charge_id: str
    provider_payment_charge_id: str
    user_id: int
    currency: str
    total_amount: int
    invoice_payload: str
    date: int
    refunded_at: int | None = None
    subscription_period: int = 0

    def view(self) -> dict[str, Any]:
        return {"telegram_payment_charge_id": self.telegram_payment_charge_id,
                "provider_payment_charge_id": self.provider_payment_charge_id, "user_id": self.user_id,
                "currency": self.currency, "total_amount": self.total_amount, "invoice_payload": self.invoice_payload,
                "date": self.date, "refunded": self.refunded_at is not None, "refunded_at": self.refunded_at}  # fmt: skip


@dataclass
class Subscription:
    """A Stars subscription: its first charge names it; charged again every ``period`` until it ends."""

    id: str
    user_id: int
    invoice_link: str
    terms: Terms
    expiration_date: int
    charges: list[str]
    canceled: bool = False  # by the bot: no more renewals, the period paid runs to its end
    active: bool = True

    def view(self) -> dict[str, Any]:
        return {"subscription_id": self.id, "user_id": self.user_id, "invoice_link": self.invoice_link,
                "invoice_payload": self.terms.payload, "total_amount": self.terms.total_amount,
                "period": self.terms.subscription_period, "expiration_date": self.expiration_date,
                "canceled": self.canceled, "active": self.active, "charges": list(self.charges)}  # fmt: skip


@dataclass
class Payments:
    """Payments for a :class:`BotAPIEmulator`: its Bot API methods and control routes."""

    emulator: BotAPIEmulator
    pre_checkout_timeout: float = PRE_CHECKOUT_TIMEOUT
    invoice_messages: dict[tuple[int, int], Terms] = field(default_factory=dict)
    paid_messages: set[tuple[int, int]] = field(default_factory=set)
    invoice_links: dict[str, Terms] = field(default_factory=dict)
    queries: dict[str, PreCheckout] = field(default_factory=dict)
    charges: dict[str, Charge] = field(default_factory=dict)
    # Star transactions, oldest first, as getStarTransactions dumps them.
    transactions: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    stars: dict[int, int] = field(default_factory=dict)

    def methods(self) -> dict[str, Handler]:
        return {
            "sendInvoice": self._send_invoice,
            "createInvoiceLink": self._create_invoice_link,
            "answerPreCheckoutQuery": self._answer_pre_checkout_query,
            "refundStarPayment": self._refund_star_payment,
            "getStarTransactions": self._get_star_transactions,
            "editUserStarSubscription": self._edit_user_star_subscription,
        }

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/control/users/{user_id}/pay", self._control_pay)
        router.add_get("/control/payments", self._control_payments)
        router.add_post("/control/users/{user_id}/stars", self._control_stars)
        router.add_post("/control/users/{user_id}/subscriptions/renew", self._control_renew)
        router.add_get("/control/subscriptions", self._control_subscriptions)
        router.add_get("/control/invoice_links", self._control_invoice_links)

    # The Bot API -----------------------------------------------------------------------------------------

    async def _send_invoice(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self.emulator.chat_for_bot(params)
        terms = _terms(params)
        markup = _pay_markup(params.get("reply_markup"))
        message = self.emulator.new_bot_message(chat)
        message["invoice"] = dump(Invoice(title=terms.title, description=terms.description,
                                          start_parameter=terms.start_parameter, currency=terms.currency,
                                          total_amount=terms.total_amount))  # fmt: skip
        if markup:
            message["reply_markup"] = markup
        chat.messages[message["message_id"]] = message
        self.invoice_messages[(chat.chat["id"], message["message_id"])] = terms
        await self.emulator.append(chat, "bot_invoice", {
            "message_id": message["message_id"], "title": terms.title, "description": terms.description,
            "payload": terms.payload, "currency": terms.currency, "total_amount": terms.total_amount,
            "prices": terms.prices, "buttons": buttons_of(message)})  # fmt: skip
        return message

    async def _create_invoice_link(self, params: dict[str, Any]) -> str:
        terms = _terms(params)
        if params.get("subscription_period") not in (None, "", 0, "0"):
            period = _amount(params["subscription_period"])
            # Telegram: 30 days exactly, Stars only, one price of at most 2500.
            if period != SUBSCRIPTION_PERIOD:
                raise BadRequest("Bad Request: SUBSCRIPTION_PERIOD_INVALID")
            if terms.currency != STARS or terms.total_amount > MAX_SUBSCRIPTION_STARS:
                raise BadRequest("Bad Request: SUBSCRIPTION_INVOICE_INVALID" if terms.currency != STARS
                                 else "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")  # fmt: skip
            terms.subscription_period = period
        link = INVOICE_LINK_PREFIX + secrets.token_urlsafe(16)
        self.invoice_links[link] = terms
        return link

    async def _answer_pre_checkout_query(self, params: dict[str, Any]) -> bool:
        ok = bool_param(params, "ok")
        # The Bot API reads error_message only for a refusal, and requires it then.
        error_message = None if ok else required_str(params, "error_message")
        query = self.queries.get(str(params.get("pre_checkout_query_id", "")))
        # The Bot API words an unknown, answered and expired query alike (Telegram's QUERY_ID_INVALID).
        if query is None or query.answered or query.expired:
            raise BadRequest(QUERY_TOO_OLD)
        query.answered, query.ok, query.error_message = True, ok, error_message
        user = self.emulator.users[query.user_id]
        await self.emulator.append(self.emulator.private_chat(user), "pre_checkout_answer", {
            "pre_checkout_query_id": query.id, "ok": ok, "error_message": error_message})  # fmt: skip
        return True

    async def _refund_star_payment(self, params: dict[str, Any]) -> bool:
        user_id = user_id_param(params)
        charge = self.charges.get(required_str(params, "telegram_payment_charge_id"))
        if charge is None or charge.user_id != user_id or charge.currency != STARS:
            raise BadRequest("Bad Request: CHARGE_NOT_FOUND")
        if charge.refunded_at is not None:
            raise BadRequest("Bad Request: CHARGE_ALREADY_REFUNDED")
        charge.refunded_at = int(time.time())
        for subscription in self.subscriptions.values():
            if charge.telegram_payment_charge_id in subscription.charges:
                subscription.active = False  # a refunded subscription is over
        user = self.emulator.users[user_id]
        self._record_transaction(charge, user, charge.refunded_at, refund=True)
        refund = RefundedPayment(currency=STARS, total_amount=charge.total_amount,
                                 invoice_payload=charge.invoice_payload,
                                 telegram_payment_charge_id=charge.telegram_payment_charge_id,
                                 provider_payment_charge_id=charge.provider_payment_charge_id)  # fmt: skip
        await self._service_message(user, "bot_refund", charge, {"refunded_payment": refund})
        return True

    async def _get_star_transactions(self, params: dict[str, Any]) -> dict[str, Any]:
        # The Bot API clamps both instead of refusing them.
        offset = max(int_param(params, "offset", 0), 0)
        limit = min(max(int_param(params, "limit", 100), 1), 100)
        newest_first = self.transactions[::-1]
        return {"transactions": newest_first[offset : offset + limit]}

    async def _edit_user_star_subscription(self, params: dict[str, Any]) -> bool:
        """Cancel (or resume) a subscription's renewals; the period paid runs to its end either way."""
        user_id = user_id_param(params)
        charge_id = required_str(params, "telegram_payment_charge_id")
        canceled = bool_param(params, "is_canceled")
        subscription = next((s for s in self.subscriptions.values() if charge_id in s.charges), None)
        if subscription is None or subscription.user_id != user_id:
            raise BadRequest("Bad Request: CHARGE_ID_INVALID")
        if not subscription.active:
            raise BadRequest("Bad Request: SUBSCRIPTION_NOT_ACTIVE")
        subscription.canceled = canceled
        return True

    def balance(self, user_id: int) -> int:
        return self.stars.setdefault(user_id, DEFAULT_STARS)

    async def renew(self, user_id: int, invoice_link: str | None = None) -> list[dict[str, Any]]:
        """Every active subscription of the user (or the one of ``invoice_link``) reaches its period's end."""
        outcomes = []
        for subscription in list(self.subscriptions.values()):
            if subscription.user_id != user_id or not subscription.active:
                continue
            if invoice_link is not None and subscription.invoice_link != invoice_link:
                continue
            outcomes.append(await self._renew(subscription))
        return outcomes

    async def _renew(self, subscription: Subscription) -> dict[str, Any]:
        terms = subscription.terms
        outcome: dict[str, Any] = {"subscription_id": subscription.id, "telegram_payment_charge_id": None,
                                   "update_id": None, "subscription_expiration_date": None}  # fmt: skip
        if subscription.canceled:
            subscription.active = False
            return {**outcome, "outcome": "canceled"}
        if self.balance(subscription.user_id) < terms.total_amount:
            subscription.active = False  # Telegram could not charge: the subscription lapses, nothing is sent
            return {**outcome, "outcome": "insufficient_stars"}
        self.stars[subscription.user_id] -= terms.total_amount
        user = self.emulator.users[subscription.user_id]
        due = subscription.expiration_date
        charge = self._charge(user, PreCheckout(id="", user_id=user["id"], currency=terms.currency,
                                                total_amount=terms.total_amount, payload=terms.payload),
                              date=due, subscription_period=terms.subscription_period)  # fmt: skip
        subscription.charges.append(charge.telegram_payment_charge_id)
        subscription.expiration_date = due + terms.subscription_period
        paid = self._successful_payment(charge, subscription.expiration_date, first=False)
        update = await self._service_message(user, "user_payment", charge, {"successful_payment": paid})
        return {**outcome, "outcome": "renewed", "telegram_payment_charge_id": charge.telegram_payment_charge_id,
                "subscription_expiration_date": subscription.expiration_date, **update}  # fmt: skip

    @staticmethod
    def _successful_payment(charge: Charge, expiration: int | None, *, first: bool) -> SuccessfulPayment:
        recurring: dict[str, Any] = {} if expiration is None else {
            "is_recurring": True, "is_first_recurring": first,
            "subscription_expiration_date": expiration}  # fmt: skip
        return SuccessfulPayment(currency=charge.currency, total_amount=charge.total_amount,
                                 invoice_payload=charge.invoice_payload,
                                 telegram_payment_charge_id=charge.telegram_payment_charge_id,
                                 provider_payment_charge_id=charge.provider_payment_charge_id, **recurring)  # fmt: skip

    # Users paying --------------------------------------------------------------------------------------

    async def pay(self, user_id: int, *, message_id: int | None = None, invoice_link: str | None = None,
                  payload: str | None = None, currency: str = STARS, total_amount: int | None = None,
                  **profile: Any) -> dict[str, Any]:  # fmt: skip
        """The user pays an invoice message, an invoice link or a forged payload; see the module docstring."""
        user = self.emulator.user(user_id, profile)
        message_key, terms = self._terms_to_pay(user_id, message_id, invoice_link, payload, currency, total_amount)
        if terms.subscription_period and any(s.user_id == user_id and s.invoice_link == invoice_link and s.active
                                             for s in self.subscriptions.values()):  # fmt: skip
            raise BadRequest("Bad Request: SUBSCRIPTION_ALREADY_ACTIVE")
        query = PreCheckout(id=str(secrets.randbelow(9 * 10**18) + 10**18), user_id=user_id, currency=terms.currency,
                            total_amount=terms.total_amount, payload=terms.payload)  # fmt: skip
        self.queries[query.id] = query
        asked = PreCheckoutQuery(id=query.id, from_user=User.model_validate(user), currency=query.currency,
                                 total_amount=query.total_amount, invoice_payload=query.payload)  # fmt: skip
        await self.emulator.enqueue(lambda update_id: Update(update_id=update_id, pre_checkout_query=asked))
        if not await self.emulator.wait_for(lambda: query.answered, self.pre_checkout_timeout):
            query.expired = True
        result: dict[str, Any] = {"pre_checkout_query_id": query.id, "answered": query.answered, "ok": query.ok,
                                  "error_message": query.error_message, "telegram_payment_charge_id": None,
                                  "update_id": None}  # fmt: skip
        if not query.ok:
            return result
        if message_key is not None:
            self.paid_messages.add(message_key)
        charge = self._charge(user, query, subscription_period=terms.subscription_period)
        if query.currency == STARS:
            self.stars[user_id] = max(0, self.balance(user_id) - charge.total_amount)  # the app buys what is missing
        expiration = None
        if terms.subscription_period:
            expiration = charge.date + terms.subscription_period
            self.subscriptions[charge.telegram_payment_charge_id] = Subscription(
                id=charge.telegram_payment_charge_id, user_id=user_id, invoice_link=invoice_link or "", terms=terms,
                expiration_date=expiration, charges=[charge.telegram_payment_charge_id])  # fmt: skip
        paid = self._successful_payment(charge, expiration, first=True)
        update = await self._service_message(user, "user_payment", charge, {"successful_payment": paid})
        return {**result, "telegram_payment_charge_id": charge.telegram_payment_charge_id, **update}

    def _terms_to_pay(self, user_id: int, message_id: int | None, invoice_link: str | None, payload: str | None,
                      currency: str, total_amount: int | None) -> tuple[tuple[int, int] | None, Terms]:  # fmt: skip
        """The invoice the user pays, and the message it is in (None for a link or a forged payload)."""
        if [message_id, invoice_link, payload].count(None) != 2:
            raise BadRequest("Bad Request: give exactly one of message_id, invoice_link and payload")
        if payload is not None:
            if total_amount is None:
                raise BadRequest("Bad Request: a forged payment needs total_amount")
            return None, Terms(title="", description="", payload=payload, currency=currency,
                               prices=[{"label": payload, "amount": total_amount}])  # fmt: skip
        if invoice_link is not None:
            terms = self.invoice_links.get(invoice_link)
            if terms is None:
                raise BadRequest("Bad Request: INVOICE_INVALID (no invoice behind that link)")
            return None, terms
        key = (user_id, int(message_id or 0))
        chat = self.emulator.chats.get(user_id)
        if chat is None or key[1] not in chat.messages:
            raise BadRequest("Bad Request: message not found")
        if key not in self.invoice_messages:
            raise BadRequest("Bad Request: the message has no invoice")
        if key in self.paid_messages:
            raise BadRequest("Bad Request: the invoice was already paid (its button now shows the receipt)")
        return key, self.invoice_messages[key]

    def _charge(self, user: dict[str, Any], query: PreCheckout, *, date: int | None = None,
                subscription_period: int = 0) -> Charge:  # fmt: skip
        number = len(self.charges) + 1
        prefix = "stx" if query.currency == STARS else "tpc"
        charge = Charge(telegram_payment_charge_id=f"{prefix}{secrets.token_urlsafe(32)}",
                        provider_payment_charge_id=f"{user['id']}_{number}", user_id=user["id"],
                        currency=query.currency, total_amount=query.total_amount, invoice_payload=query.payload,
                        date=int(time.time()) if date is None else date,
                        subscription_period=subscription_period)  # fmt: skip
        self.charges[charge.telegram_payment_charge_id] = charge
        if charge.currency == STARS:
            self._record_transaction(charge, user, charge.date, refund=False)
        return charge

    def _record_transaction(self, charge: Charge, user: dict[str, Any], date: int, *, refund: bool) -> None:
        """A payment in Stars comes from the user (``source``); its refund goes to them (``receiver``)."""
        partner = TransactionPartnerUser(transaction_type="invoice_payment", user=User.model_validate(user),
                                         invoice_payload=charge.invoice_payload,
                                         subscription_period=charge.subscription_period or None)  # fmt: skip
        transaction = StarTransaction(id=charge.telegram_payment_charge_id, amount=charge.total_amount,
                                      date=datetime.fromtimestamp(date, UTC), source=None if refund else partner,
                                      receiver=partner if refund else None)  # fmt: skip
        self.transactions.append(dump(transaction))

    async def _service_message(self, user: dict[str, Any], kind: str, charge: Charge,
                               content: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
        """A payment's service message in the user's private chat: kept, recorded as ``kind`` and delivered."""
        chat = self.emulator.private_chat(user)
        message = Message(message_id=chat.next_message_id, date=datetime.now(UTC), chat=Chat.model_validate(chat.chat),
                          from_user=User.model_validate(user), **content)  # fmt: skip
        chat.next_message_id += 1
        chat.messages[message.message_id] = dump(message)
        await self.emulator.append(chat, kind, {
            "message_id": message.message_id, "currency": charge.currency, "total_amount": charge.total_amount,
            "invoice_payload": charge.invoice_payload, "telegram_payment_charge_id": charge.telegram_payment_charge_id,
            "provider_payment_charge_id": charge.provider_payment_charge_id})  # fmt: skip
        return await self.emulator.enqueue(lambda update_id: Update(update_id=update_id, message=message))

    # Control API ---------------------------------------------------------------------------------------

    async def _control_pay(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        result = await self.pay(
            int(request.match_info["user_id"]),
            message_id=int(body["message_id"]) if body.get("message_id") is not None else None,
            invoice_link=str(body["invoice_link"]) if body.get("invoice_link") is not None else None,
            payload=str(body["payload"]) if body.get("payload") is not None else None,
            currency=str(body.get("currency", STARS)),
            total_amount=int(body["total_amount"]) if body.get("total_amount") is not None else None,
            **profile_of(body),
        )
        return ok_response(result)

    async def _control_payments(self, request: web.Request) -> web.Response:
        return ok_response([charge.view() for charge in self.charges.values()])

    async def _control_stars(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        user_id = int(request.match_info["user_id"])
        balance = body.get("balance")
        if isinstance(balance, bool) or not isinstance(balance, int) or balance < 0:
            raise BadRequest("Bad Request: balance must be a non-negative integer")
        self.stars[user_id] = balance
        return ok_response({"balance": balance})

    async def _control_renew(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        link = body.get("invoice_link")
        return ok_response(await self.renew(int(request.match_info["user_id"]), str(link) if link else None))

    async def _control_subscriptions(self, request: web.Request) -> web.Response:
        return ok_response([subscription.view() for subscription in self.subscriptions.values()])

    async def _control_invoice_links(self, request: web.Request) -> web.Response:
        return ok_response([{"invoice_link": link, "title": terms.title, "description": terms.description,
                             "currency": terms.currency, "total_amount": terms.total_amount,
                             "subscription_period": terms.subscription_period}
                            for link, terms in self.invoice_links.items()])  # fmt: skip


def _terms(params: dict[str, Any]) -> Terms:
    """An invoice's terms, checked as the Bot API and Telegram check them (same order, same words)."""
    title, description = required_str(params, "title"), required_str(params, "description")
    payload, currency = required_str(params, "payload"), required_str(params, "currency")
    if "prices" not in params or params["prices"] == "":
        raise BadRequest('Bad Request: parameter "prices" is required')
    prices = _prices(params["prices"])
    terms = Terms(title=title, description=description, payload=payload, currency=currency, prices=prices,
                  start_parameter=str(params.get("start_parameter") or ""))  # fmt: skip
    if len(title) > MAX_TITLE:
        raise BadRequest("Bad Request: INVOICE_TITLE_INVALID")
    if len(description) > MAX_DESCRIPTION:
        raise BadRequest("Bad Request: INVOICE_DESCRIPTION_INVALID")
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise BadRequest("Bad Request: INVOICE_PAYLOAD_INVALID")
    if currency not in CURRENCIES:
        raise BadRequest("Bad Request: CURRENCY_INVALID")
    provider_token = str(params.get("provider_token") or "")
    if currency == STARS:
        # Stars need no payment provider and take one price: the number of Stars.
        if provider_token or len(prices) != 1:
            raise BadRequest("Bad Request: STARS_INVOICE_INVALID")
        if not 1 <= terms.total_amount <= MAX_STARS:
            raise BadRequest("Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")
    else:
        if not provider_token:
            raise BadRequest("Bad Request: PAYMENT_PROVIDER_INVALID")
        if terms.total_amount <= 0:
            raise BadRequest("Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")
    return terms


def _prices(value: Any) -> list[dict[str, Any]]:
    """LabeledPrice objects: a non-empty ``label`` and an integer ``amount`` (negative ones are discounts)."""
    if not isinstance(value, list):
        raise BadRequest("Bad Request: expected an Array of labeled prices")
    prices = []
    for price in value:
        if not isinstance(price, dict):
            raise BadRequest(_PRICE + "LabeledPrice must be an Object")
        if "label" not in price or "amount" not in price:
            raise BadRequest(_PRICE + f'Can\'t find field "{"label" if "label" not in price else "amount"}"')
        if not isinstance(price["label"], str):
            raise BadRequest(_PRICE + 'Field "label" must be of type String')
        if not price["label"]:
            raise BadRequest(_PRICE + "LabeledPrice label must be non-empty")
        prices.append({"label": price["label"], "amount": _amount(price["amount"])})
    if not prices:
        raise BadRequest("Bad Request: there must be at least one price")
    return prices


def _amount(value: Any) -> int:
    # Telegram reads 64-bit integers from JSON numbers and from strings holding one.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadRequest(_PRICE + 'Field "amount" must be a Number')
    try:
        return int(value)
    except ValueError:
        raise BadRequest(_PRICE + 'Field "amount" must be a Number') from None


def _pay_markup(markup: Any) -> dict[str, Any] | None:
    """An invoice's inline keyboard: none (Telegram shows a Pay button) or one whose first button pays."""
    checked = check_reply_markup(markup)
    if not checked or "inline_keyboard" not in checked:
        return None
    rows = checked["inline_keyboard"]
    if not rows or not rows[0] or rows[0][0].get("pay") is not True:
        raise BadRequest("Bad Request: REPLY_MARKUP_BUY_EMPTY")
    return checked
