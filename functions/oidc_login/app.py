from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from eid_broker import api
from eid_broker.oidc import login, web
from eid_broker.oidc.pages import static_file

app = api.make_resolver()
HTML, EMPTY, TEXT = web.HTML, web.EMPTY, {"text/plain; charset=utf-8": {"schema": {"type": "string"}}}
STATUS = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}
STATIC = {f"text/{kind}; charset=utf-8": {"schema": {"type": "string"}} for kind in ("css", "javascript")}


@app.get(
    "/oidc/authorize",
    summary="OpenID Connect authorization request (the person's browser)",
    operation_id="oidc_authorize",
    description="Checks the request and sends the browser to the hosted login page (303, with the login's "
    "cookie), or back to the relying party with an error (302). An unregistered client or redirect_uri "
    "is an error page (400), never a redirect.",
    tags=["oidc"],
    responses=web.documented(
        {
            302: ("An error, at the relying party's redirect_uri", EMPTY),
            303: ("To the hosted page, with the login's cookie", EMPTY),
            400: ("Error page: unknown client or redirect_uri (never a redirect)", HTML),
        }
    ),
)
def authorize() -> Response[Any]:
    return login.authorize(app)


@app.get(
    "/oidc/login",
    summary="The hosted login page's current step",
    operation_id="oidc_login_page",
    tags=["oidc"],
    responses=web.documented(
        {
            200: ("The step's page", HTML),
            303: ("Completed: to the relying party with code, state and iss", EMPTY),
            400: ("No login in progress here, or it has finished", HTML),
        }
    ),
)
def page() -> Response[Any]:
    return login.show(app)


@app.post(
    "/oidc/login",
    summary="One form of the hosted login page",
    operation_id="oidc_login_step",
    description="application/x-www-form-urlencoded with `csrf` and `action` (choose, start, otp, retry, "
    "back, return); without the right anti-forgery token nothing changes (403).",
    tags=["oidc"],
    responses=web.documented(
        {
            303: ("The next step (or the relying party)", EMPTY),
            400: ("No login in progress here, or it has finished", HTML),
            403: ("No valid anti-forgery token: nothing changed", HTML),
            422: (
                "The identity form or the OTP form again, with the reason (a wrong OTP: the attempts left)",
                HTML,
            ),
            429: ("The identity form again: too many attempts for this person", HTML),
            503: ("The identity or OTP form again: the provider could not be reached", HTML),
        }
    ),
)
def step() -> Response[Any]:
    return login.step(app)


@app.get(
    "/oidc/login/status",
    summary="The login's session status, waiting up to `wait` (0-20) seconds (the page's JavaScript)",
    operation_id="oidc_login_status",
    tags=["oidc"],
    responses=web.documented(
        {
            200: ("The session's status", web.json_content(STATUS)),
            404: ("No login waiting here", web.json_content(STATUS)),
            429: (
                "Another read of this login is waiting: `busy`, retry after Retry-After",
                web.json_content(STATUS),
            ),
        }
    ),
)
def status() -> Response[Any]:
    return login.status(app)


@app.get(
    "/oidc/static/<name>",
    summary="The hosted page's stylesheet and script",
    operation_id="oidc_static",
    tags=["oidc"],
    # 404 problem+json: a name the route pattern cannot match never reaches the handler
    responses=web.documented({200: ("The file", STATIC), 404: ("No such file", {**TEXT, **web.PROBLEM})}),
)
def static(name: Annotated[str, Path()]) -> Response[Any]:
    found = static_file(name)
    if found is None:
        return Response(404, "text/plain; charset=utf-8", "not found", web.NO_STORE)
    text, content_type = found
    cache = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    return Response(200, content_type, text, cache)


lambda_handler = web.public_handler(app)
