"""The hosted login page's steps: authorize, chooser, identity form, waiting (a control code, a
provider's link or the OTP form), completion, failure.

Every step is a plain form (POST, the anti-forgery token bound to the transaction's cookie) or a
self-reloading page, so the page works without JavaScript. Sessions are started through the same
session service as `POST /v1/sessions/{method}`, as the client's API key (same limits, same events).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from pydantic import ValidationError

from eid_broker.config import Settings, get_settings
from eid_broker.errors import BrokerError, PersonRateLimited, SessionNotFound
from eid_broker.methods.base import registry
from eid_broker.observability import logger
from eid_broker.oidc import forms, otp_step, web
from eid_broker.oidc.authorize import PageError, Redirected, error_location, parse, still_registered
from eid_broker.oidc.claims import authentication, person_claims
from eid_broker.oidc.grant import Grants
from eid_broker.oidc.i18n import choose_locale
from eid_broker.oidc.issuer import endpoint, issuer, with_params
from eid_broker.oidc.pages import DEFAULT_REASON, FORM_PROBLEMS, PAGE_ERRORS, REASONS, render, translate
from eid_broker.oidc.transaction import LIFETIME_SECONDS, LoginTransaction, Transactions, cookie_name, csrf_ok
from eid_broker.oidc.transaction import csrf_token as make_csrf
from eid_broker.sessions import EnterOtp, Redirect, SessionRecord
from eid_broker.sessions.service import SessionService
from eid_broker.wiring import default_clients, default_store, service_for

STATUS_WAIT_SECONDS = 20


@cache
def _settings_for(settings: Settings, method: str) -> Settings:
    polls = json.loads(settings.oidc_poll_functions or "{}")
    machines = json.loads(settings.oidc_poll_machines or "{}")
    machine = machines.get(method) or settings.session_poll_state_machine_arn
    return settings.model_copy(
        update={"poll_function_arn": polls.get(method, ""), "session_poll_state_machine_arn": machine}
    )


def session_service(method: str) -> SessionService:
    """The `/v1` session service, with `method`'s poll function and loop (eeID's week-long links and
    MOSIP's OTP deadline wait on the standard state machine, the others on the express one)."""
    return service_for(_settings_for(get_settings(), method))


def _headers(app: APIGatewayRestResolver) -> dict[str, str]:
    return {k.lower(): v for k, v in (app.current_event.headers or {}).items()}


def error_page(app: APIGatewayRestResolver, reason: str, status: int = 400) -> Response[str]:
    locale = choose_locale(None, _headers(app).get("accept-language"))
    message = translate(locale, PAGE_ERRORS[reason])
    return web.html(render("error.html", locale, message=message), status)


def authorize(app: APIGatewayRestResolver) -> Response[str]:
    params = app.current_event.multi_value_query_string_parameters or {}
    try:
        request = parse(default_clients(), params, _headers(app).get("accept-language"))
    except PageError as error:
        return error_page(app, str(error))
    except Redirected as redirected:
        return web.redirect(redirected.location, status=302)
    transaction_id, _ = Transactions(default_store()).open(request)
    cookie = web.set_cookie(cookie_name(), transaction_id, max_age=LIFETIME_SECONDS)
    return web.redirect(endpoint("/oidc/login"), cookies=[cookie])


def _current(app: APIGatewayRestResolver) -> tuple[str, LoginTransaction] | None:
    transaction_id = web.cookie(app, cookie_name())
    transaction = Transactions(default_store()).load(transaction_id)
    return (transaction_id, transaction) if transaction_id and transaction else None


def show(app: APIGatewayRestResolver) -> Response[str]:
    """GET /oidc/login: the transaction's current step."""
    found = _current(app)
    if found is None:
        return error_page(app, "no_login")
    transaction_id, transaction = found
    if transaction.step == "done":
        return error_page(app, "done")
    if transaction.step == "wait":
        try:
            return _waiting(transaction_id, transaction)
        except SessionNotFound:  # erased or never kept (its polling could not start)
            Transactions(default_store()).end(transaction_id)
            return error_page(app, "no_login")
    if transaction.step == "starting":  # another request is asking the provider right now
        return _page(transaction_id, transaction, "wait.html", control_code=None)
    template = "choose.html" if transaction.step == "choose" else "identify.html"
    return _page(transaction_id, transaction, template, values=forms.prefill(transaction))


def _page(
    transaction_id: str, transaction: LoginTransaction, template: str, status: int = 200, **context: Any
) -> Response[str]:
    client = default_clients().find(transaction.client_id)
    body = render(
        template,
        transaction.locale,
        client_name=client.client_name if client else "",
        csrf=make_csrf(transaction_id),
        offers=transaction.offers,
        method=transaction.method,
        fields=forms.fields(transaction.method) if transaction.method else (),
        channels=forms.CHANNELS,
        status_url=endpoint("/oidc/login/status"),
        **context,
    )
    return web.html(body, status, redirect_uri=transaction.redirect_uri)


def _session(transaction: LoginTransaction, wait: float = 0) -> SessionRecord:
    """The transaction's session (step `wait`), read as the client's API key; after up to `wait` s."""
    method, session_id = transaction.method or "", transaction.session_id or ""
    if wait > 0:
        return session_service(method).read_waiting(session_id, transaction.owner, wait)
    return session_service(method).read(session_id, transaction.owner)


def _waiting(
    transaction_id: str, transaction: LoginTransaction, problem: str | None = None, status: int = 200
) -> Response[str]:
    record = _session(transaction)
    if record.status == "pending":
        action = record.next_action
        if isinstance(action, EnterOtp):
            left = action.attempts_left
            shown = translate(transaction.locale, FORM_PROBLEMS[problem], left=left) if problem else None
            return _page(transaction_id, transaction, "otp.html", status, left=left, problem=shown)
        link = action.url if isinstance(action, Redirect) else None
        code = getattr(action, "control_code", None)
        return _page(transaction_id, transaction, "wait.html", control_code=code, link=link)
    if record.status == "completed":
        return _complete(transaction_id, transaction, record)
    code = record.error.code if record.error else "TIMEOUT"
    reason = translate(transaction.locale, REASONS.get(code, DEFAULT_REASON))
    return _page(transaction_id, transaction, "failed.html", reason=reason)


def _unregistered(transaction_id: str, transaction: LoginTransaction) -> Response[str] | None:
    """The error page (the login ended) when its redirect URI is no longer registered, else None."""
    clients, uri = default_clients(), transaction.redirect_uri
    if still_registered(clients, transaction.client_id, transaction.client_created, uri):
        return None
    Transactions(default_store()).end(transaction_id)
    message = translate(transaction.locale, PAGE_ERRORS["unknown_redirect_uri"])
    return web.html(render("error.html", transaction.locale, message=message), 400)


def _complete(transaction_id: str, transaction: LoginTransaction, record: SessionRecord) -> Response[str]:
    """One code per completion: only the request that ends the transaction issues it."""
    if (refused := _unregistered(transaction_id, transaction)) is not None:
        return refused
    transactions = Transactions(default_store())
    if not transactions.advance(transaction_id, transaction, step="done", phone=None):
        return web.redirect(endpoint("/oidc/login"))
    code = Grants(default_store()).issue_code(
        transaction, person_claims(record, transaction.phone), authentication(record)
    )
    location = with_params(
        transaction.redirect_uri, {"code": code, "state": transaction.state, "iss": issuer()}
    )
    return web.redirect(location, cookies=[web.set_cookie(cookie_name(), "", max_age=0)])


def step(app: APIGatewayRestResolver) -> Response[str]:
    """POST /oidc/login: one form of the page. Without the right anti-forgery token nothing changes."""
    found = _current(app)
    if found is None:
        return error_page(app, "no_login")
    transaction_id, transaction = found
    fields = web.form(app) if web.is_form(app) else {}
    if not csrf_ok(transaction_id, fields.get("csrf")):
        return error_page(app, "forbidden", 403)
    if transaction.step == "done":
        return error_page(app, "done")
    try:
        return _act(transaction_id, transaction, fields)
    except SessionNotFound:
        Transactions(default_store()).end(transaction_id)
        return error_page(app, "no_login")


def _act(transaction_id: str, transaction: LoginTransaction, fields: dict[str, str]) -> Response[str]:
    action = fields.get("action")
    transactions = Transactions(default_store())
    again = web.redirect(endpoint("/oidc/login"))
    if action == "return":
        return _return(transaction_id, transaction)
    if action == "choose" and transaction.step in ("choose", "identify"):
        method = fields.get("method")
        if method in transaction.offers:
            transactions.advance(transaction_id, transaction, step="identify", method=method)
        return again
    if action == "back" and transaction.step == "identify" and len(transaction.offers) > 1:
        transactions.advance(transaction_id, transaction, step="choose", method=None)
        return again
    ended = transaction.step == "wait" and _session(transaction).status not in ("pending", "completed")
    if action == "retry" and ended:
        single = len(transaction.offers) == 1
        transactions.advance(
            transaction_id, transaction, step="identify" if single else "choose", session_id=None
        )
        return again
    if action == "start" and transaction.step == "identify" and transaction.method:
        return _start(transaction_id, transaction, fields)
    if action == "otp" and transaction.step == "wait" and transaction.method == "mosip-otp":
        problem = otp_step.submit(transaction, fields.get("otp", ""), session_service(transaction.method))
        if problem is not None:
            return _waiting(transaction_id, transaction, problem, 503 if problem == "unavailable" else 422)
    return again


def _start(transaction_id: str, transaction: LoginTransaction, fields: dict[str, str]) -> Response[str]:
    method = registry()[transaction.method or ""]
    values = {name: fields.get(name, "").strip() for name in forms.fields(method.name)}
    try:
        body = method.body.model_validate(forms.start_body(transaction, values))
    except ValidationError as invalid:
        names = [str(error["loc"][0]) for error in invalid.errors() if error.get("loc")]
        problem = translate(transaction.locale, FORM_PROBLEMS[forms.problem_field(method.name, names)])
        return _page(transaction_id, transaction, "identify.html", 422, values=values, problem=problem)
    # One start per form: a double submission finds the transaction taken and starts nothing.
    transactions = Transactions(default_store())
    claimed = transactions.advance(transaction_id, transaction, step="starting")
    if claimed is None:
        return web.redirect(endpoint("/oidc/login"))
    try:
        record, _ = session_service(method.name).start(method, body, transaction.owner)
    except BrokerError as refused:
        transactions.advance(transaction_id, claimed, step="identify")
        if isinstance(refused, PersonRateLimited):
            seconds = refused.retry_after
            problem = translate(transaction.locale, FORM_PROBLEMS["rate_limited"], seconds=seconds)
            return _page(transaction_id, transaction, "identify.html", 429, values=values, problem=problem)
        logger.warning("oidc login start failed", extra={"reason": type(refused).__name__})
        problem = translate(transaction.locale, FORM_PROBLEMS["unavailable"])
        return _page(transaction_id, transaction, "identify.html", 503, values=values, problem=problem)
    phone = values.get("phone") if "phone" in transaction.scope else None
    transactions.advance(transaction_id, claimed, step="wait", session_id=record.session_id, phone=phone)
    return web.redirect(endpoint("/oidc/login"))


def _return(transaction_id: str, transaction: LoginTransaction) -> Response[str]:
    """Back to the relying party with access_denied and the session's error code."""
    code = "USER_CANCELLED"
    if transaction.step == "wait":
        record = _session(transaction)
        if record.status == "pending":
            session_service(record.method).cancel(record.session_id, transaction.owner)
        elif record.error is not None:
            code = record.error.code
    if (refused := _unregistered(transaction_id, transaction)) is not None:
        return refused
    Transactions(default_store()).end(transaction_id)
    location = error_location(transaction.redirect_uri, "access_denied", code, transaction.state)
    return web.redirect(location, cookies=[web.set_cookie(cookie_name(), "", max_age=0)])


def status(app: APIGatewayRestResolver) -> Response[dict[str, Any]]:
    """GET /oidc/login/status?wait=N: the waiting page's long-poll (JavaScript); status only.
    A second waiting read while one waits for the same transaction is refused (429 busy)."""
    found = _current(app)
    headers = web.NO_STORE
    if found is not None and found[1].step == "starting":
        return Response(200, "application/json", json.dumps({"status": "starting"}), headers)  # type: ignore[arg-type]
    if found is None or found[1].step != "wait":
        body = {"status": "none"}
        return Response(404, "application/json", json.dumps(body), headers)  # type: ignore[arg-type]
    transaction_id, transaction = found
    try:
        wait = min(max(int(web.query(app).get("wait", STATUS_WAIT_SECONDS)), 0), STATUS_WAIT_SECONDS)
    except ValueError:
        wait = 0
    # One waiting read per transaction: a cookie cannot hold any number of functions waiting.
    transactions = Transactions(default_store())
    held = transactions.hold_poll(transaction_id, wait) if wait > 0 else None
    if wait > 0 and held is None:
        busy = {**headers, "Retry-After": "2"}
        return Response(429, "application/json", json.dumps({"status": "busy"}), busy)  # type: ignore[arg-type]
    try:
        record = _session(transaction, wait)
    except SessionNotFound:
        return Response(404, "application/json", json.dumps({"status": "none"}), headers)  # type: ignore[arg-type]
    finally:
        if held is not None:
            transactions.release_poll(transaction_id, held)
    return Response(200, "application/json", json.dumps({"status": record.status}), headers)  # type: ignore[arg-type]
