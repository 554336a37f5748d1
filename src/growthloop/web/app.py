"""The dashboard as a Starlette application: one route per page, the reply and job actions, error pages.

    app = create_app(settings, store, action_token=os.environ.get("GROWTHLOOP_WEB_TOKEN"))

Pages are plain functions, which Starlette runs in its thread pool (the store's reads block). Pages take
`?account=NAME` (default: the configured account). Bad input is a 4xx page that names the
parameter, never a traceback; an unexpected error is a 500 page that says to read the server's log.
"""

from __future__ import annotations

import math
import traceback
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import structlog
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from growthloop.adapters.store.store import SqlStore
from growthloop.bootstrap import account_names, make_clock, make_records
from growthloop.config import Settings
from growthloop.domain import DIMENSIONS
from growthloop.jobs.pause import set_pause
from growthloop.jobs.registry import JOBS
from growthloop.loop.reply import decide_draft
from growthloop.ports import Clock
from growthloop.web import charts, data
from growthloop.web.guard import AUTH_COOKIE, SESSION_COOKIE, TOKEN_VARIABLE, Guard, Refused

HERE = Path(__file__).parent
PLOTLY_JS = files("plotly") / "package_data" / "plotly.min.js"
log = structlog.get_logger("growthloop.web")
NAV = (("overview", "/", "Overview"), ("posts", "/posts", "Posts"), ("learning", "/learning", "Learning"),
       ("jobs", "/jobs", "Jobs"), ("replies", "/replies", "Replies"))  # fmt: skip
SECURITY_HEADERS = [
    # plotly.js sets element styles at run time, hence 'unsafe-inline' for styles only; no inline script runs
    (
        b"content-security-policy",
        b"default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),  # fmt: skip
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """Adds the headers above to every response (a plain ASGI wrapper: no per-request task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


def _clean(value: Any) -> Any:
    """JSON for the browser: NaN and infinities (not JSON) become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _when(value: Any) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _every(seconds: int | None) -> str:
    if not seconds:
        return ""
    unit, size = next((u, n) for u, n in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)) if seconds % n == 0)
    return f"{seconds // size} {unit}"


def _num(value: Any, spec: str = ".2f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return format(value, spec)


def _overview_view(scope: data.Scope) -> dict[str, Any]:
    view = data.overview(scope)
    return view | {"figure": charts.followers(view["series"], view["marks"])}


def _jobs_view(scope: data.Scope) -> dict[str, Any]:
    view = data.jobs(scope)
    return view | {"figure": charts.job_durations(view["recent"])}


def create_app(
    settings: Settings,
    store: SqlStore,
    action_token: str | None,
    allowed_hosts: list[str] | None = None,
    clock: Clock | None = None,
) -> Starlette:
    """The dashboard over `store`; an account that is not a simulation is judged at `clock`'s time."""
    guard = Guard(action_token)
    clock = clock or make_clock()
    cache = data.PageCache()
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(), auto_reload=False)
    env.filters.update(when=_when, num=_num, every=_every, figure=_clean)
    env.globals.update(nav=NAV, dimensions=DIMENSIONS, token_variable=TOKEN_VARIABLE)

    def scope_of(request: Request, account: str | None) -> data.Scope:
        accounts = tuple(account_names(store))
        name = account or (settings.account if settings.account in accounts or not accounts else accounts[0])
        if name not in accounts:
            known = ", ".join(accounts) or "none: run growthloop init"
            raise data.NotFound(f"no account {name[:64]!r} in this database (accounts: {known})")
        now, simulated = data.judged_at(store, name, clock)
        return data.Scope(store, settings.model_copy(update={"account": name}), accounts, now, simulated, cache)

    def render(request: Request, page: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        sid, new = guard.session(request)
        scope: data.Scope | None = context.get("scope")
        base = {"account": scope.account} if scope else {}

        def url(path: str, **params: Any) -> str:
            query = urlencode({**base, **{k: v for k, v in params.items() if v is not None}})
            return f"{path}?{query}" if query else path

        html = env.get_template(f"{page}.html").render(
            request=request,
            page=page,
            url=url,
            csrf=guard.csrf_token(sid),
            actions_enabled=guard.actions_enabled,
            signed_in=guard.signed_in(request, sid),
            database=store.safe_url(),
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        if new:
            response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict", path="/")
        return response

    def error_page(request: Request, status: int, message: str) -> HTMLResponse:
        return render(request, "error", {"status": status, "message": message}, status)

    def overview(request: Request) -> Response:
        scope = scope_of(request, request.query_params.get("account"))
        view = data.cached("overview", scope, _overview_view)
        return render(request, "overview", {"scope": scope, **view})

    def posts(request: Request) -> Response:
        scope = scope_of(request, request.query_params.get("account"))
        query = data.parse_post_query(request.query_params, scope.settings)
        return render(request, "posts", {"scope": scope, "q": query, **data.posts_page(scope, query)})

    def post(request: Request) -> Response:
        scope = scope_of(request, request.query_params.get("account"))
        view = data.post_detail(scope, data.row_id(request.path_params["post_id"], "post"))
        figure = charts.post_metrics(view["snapshots"], view["post"].posted_at) if view["snapshots"] else None
        return render(request, "post", {"scope": scope, "figure": figure, **view})

    def learning(request: Request) -> Response:
        scope = scope_of(request, request.query_params.get("account"))
        view = data.learning(scope)
        truth = view["truth"] or {}
        forests = [
            (dim, charts.forest(dim, view["performance"][dim], view["probabilities"].get(dim), truth.get(dim)))
            for dim in DIMENSIONS
            if view["performance"][dim]
        ]
        evaluation = charts.evaluations(view["evaluations"], view["uniform_truth"])
        return render(request, "learning", {"scope": scope, "forests": forests, "evaluation": evaluation, **view})

    def jobs(request: Request) -> Response:
        scope = scope_of(request, request.query_params.get("account"))
        view = data.cached("jobs", scope, _jobs_view)
        return render(request, "jobs", {"scope": scope, **view})

    def replies(request: Request) -> Response:
        scope = scope_of(request, request.query_params.get("account"))
        view = data.replies(scope, request.query_params.get("status") or None)
        decided = data.positive_int(request.query_params, "decided", 0, data.MAX_ID)
        outcome = (decided, data.opportunity_status(scope, decided)) if decided else None
        return render(request, "replies", {"scope": scope, "decided": outcome, **view})

    async def acting(request: Request) -> Any:
        """The form of a POST that changes something, once the guard let it through."""
        form = await request.form()
        guard.check_post(request, form)
        sid, _ = guard.session(request)
        if not guard.signed_in(request, sid):
            raise Refused("sign in with the token first (the form at the top of the page)")
        return form

    async def decide(request: Request) -> Response:
        form = await acting(request)
        verdict = request.path_params["verdict"]
        if verdict not in ("approve", "reject"):
            raise data.NotFound(f"no action {verdict[:20]!r}: approve or reject")
        account = form.get("account")
        scope = await run_in_threadpool(scope_of, request, account if isinstance(account, str) else None)
        opportunity = data.row_id(request.path_params["opportunity_id"], "reply opportunity")
        try:
            await run_in_threadpool(
                decide_draft, store, make_records(store), scope.account, opportunity, verdict == "approve", scope.now
            )
        except LookupError as exc:
            raise data.NotFound(str(exc)) from None
        except ValueError as exc:
            return error_page(request, 409, str(exc))
        log.info("web.reply_decided", account=scope.account, opportunity=opportunity, verdict=verdict)
        return RedirectResponse(f"/replies?{urlencode({'account': scope.account, 'decided': opportunity})}", 303)

    async def pause_job(request: Request) -> Response:
        form = await acting(request)
        job, action = request.path_params["job"], request.path_params["action"]
        if action not in ("pause", "resume") or job not in JOBS:
            raise data.NotFound(f"no action {job[:32]!r}/{action[:20]!r}: a job ({', '.join(JOBS)}), pause or resume")
        account = form.get("account")
        scope = await run_in_threadpool(scope_of, request, account if isinstance(account, str) else None)
        by = "the dashboard" if action == "pause" else None
        await run_in_threadpool(set_pause, store, scope.settings, job, scope.now, by)
        log.info("web.job_paused" if by else "web.job_resumed", account=scope.account, job=job)
        return RedirectResponse(f"/jobs?{urlencode({'account': scope.account})}", 303)

    async def sign_in(request: Request) -> Response:
        form = await request.form()
        sid = guard.check_post(request, form)
        guard.check_token(form.get("token"))
        back = form.get("back")
        target = back if isinstance(back, str) and back.startswith("/") and not back.startswith("//") else "/"
        response = RedirectResponse(target, 303)
        response.set_cookie(AUTH_COOKIE, guard.auth_cookie(sid), httponly=True, samesite="strict", path="/")
        return response

    async def sign_out(request: Request) -> Response:
        form = await request.form()
        guard.check_post(request, form)
        response = RedirectResponse("/", 303)
        response.delete_cookie(AUTH_COOKIE, path="/")
        return response

    async def plotly_js(request: Request) -> Response:
        return FileResponse(str(PLOTLY_JS), media_type="text/javascript", headers={"cache-control": "max-age=86400"})

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = {404: "no such page", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
        return error_page(request, exc.status_code, message)

    async def on_not_found(request: Request, exc: Exception) -> Response:
        return error_page(request, 404, str(exc))

    async def on_bad_request(request: Request, exc: Exception) -> Response:
        return error_page(request, 400, str(exc))

    async def on_refused(request: Request, exc: Exception) -> Response:
        return error_page(request, 403, str(exc))

    async def on_error(request: Request, exc: Exception) -> Response:
        # the traceback without its frames' locals: those hold the request's cookies
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        log.error("web.error", path=request.url.path, error=f"{type(exc).__name__}: {exc}", traceback=trace)
        return HTMLResponse(
            "<!doctype html><title>error</title><p>Internal error: the server's log has the details.</p>", 500
        )

    routes = [
        Route("/", overview),
        Route("/posts", posts),
        Route("/posts/{post_id:int}", post),
        Route("/learning", learning),
        Route("/jobs", jobs),
        Route("/jobs/{job}/{action}", pause_job, methods=["POST"]),
        Route("/replies", replies),
        Route("/replies/{opportunity_id:int}/{verdict}", decide, methods=["POST"]),
        Route("/signin", sign_in, methods=["POST"]),
        Route("/signout", sign_out, methods=["POST"]),
        Route("/static/plotly.min.js", plotly_js),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [Middleware(SecurityHeaders)]
    if allowed_hosts:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            HTTPException: on_http_error,
            data.NotFound: on_not_found,
            data.BadRequest: on_bad_request,
            Refused: on_refused,
            Exception: on_error,
        },
    )
