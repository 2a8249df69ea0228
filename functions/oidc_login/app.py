from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from eid_broker import api
from eid_broker.oidc import login, web
from eid_broker.oidc.pages import static_file

app = api.make_resolver()
HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}


@app.get(
    "/oidc/authorize",
    summary="OpenID Connect authorization request (the person's browser)",
    operation_id="oidc_authorize",
    description="Checks the request and sends the browser to the hosted login page (303, with the login's "
    "cookie), or back to the relying party with an error (302). An unregistered client or redirect_uri "
    "is an error page (400), never a redirect.",
    tags=["oidc"],
    responses={
        302: {"description": "An error, at the relying party"},
        303: {"description": "To the page"},
        400: {"description": "Error page", **HTML},
    },
)
def authorize() -> Response[str]:
    return login.authorize(app)


@app.get(
    "/oidc/login",
    summary="The hosted login page's current step",
    operation_id="oidc_login_page",
    tags=["oidc"],
    responses={
        200: {"description": "The step's page", **HTML},
        303: {"description": "Completed: to the relying party"},
        400: {"description": "No login here", **HTML},
    },
)
def page() -> Response[str]:
    return login.show(app)


@app.post(
    "/oidc/login",
    summary="One form of the hosted login page",
    operation_id="oidc_login_step",
    description="application/x-www-form-urlencoded with `csrf` and `action` (choose, start, retry, back, "
    "return); without the right anti-forgery token nothing changes (403).",
    tags=["oidc"],
    responses={
        303: {"description": "The next step"},
        403: {"description": "No valid anti-forgery token", **HTML},
        422: {"description": "The form again, with the reason", **HTML},
    },
)
def step() -> Response[str]:
    return login.step(app)


@app.get(
    "/oidc/login/status",
    summary="The login's session status, waiting up to wait seconds (the page's JavaScript)",
    operation_id="oidc_login_status",
    tags=["oidc"],
    responses={200: {"description": '{"status": ...}'}, 404: {"description": "No login waiting"}},
)
def status() -> Response[dict[str, Any]]:
    return login.status(app)


@app.get(
    "/oidc/static/<name>",
    summary="The hosted page's stylesheet and script",
    operation_id="oidc_static",
    tags=["oidc"],
    responses={200: {"description": "The file"}, 404: {"description": "No such file"}},
)
def static(name: Annotated[str, Path()]) -> Response[str]:
    found = static_file(name)
    if found is None:
        return Response(404, "text/plain; charset=utf-8", "not found", web.NO_STORE)
    text, content_type = found
    return Response(
        200,
        content_type,
        text,
        {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


lambda_handler = web.public_handler(app)
