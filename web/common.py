"""What every route of the inspection page shares: the :class:`WebContext` (services, config, templates), reading
it from a request, JSON bodies, integer parameters, the error-to-status table and small display helpers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from lensdb.core.display import BANDS, STRETCHES
from lensdb.core.errors import BackendUnavailable, Conflict, InvalidInput, LensDBError, NotFound, redact_paths
from lensdb.core.exports import viewer_url
from lensdb.services import Services
from lensdb.web.config import WebConfig
from lensdb.web.sessions import Sessions

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "lensdb_session"


def status_table():
    from lensdb.services.errors import Cancelled, DeadlineExceeded
    # The first matching row wins: subclasses before their bases.
    return ((BackendUnavailable, 503), (DeadlineExceeded, 504), (Cancelled, 499),
            (InvalidInput, 400), (NotFound, 404), (Conflict, 409), (LensDBError, 400))


def sexagesimal(ra: float, dec: float) -> str:
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    return SkyCoord(ra * u.deg, dec * u.deg).to_string("hmsdms", sep=":", precision=2)


@dataclass
class WebContext:
    """The page's state, kept on ``app.state.web``: the services it fronts, its config and its templates."""

    services: Services
    config: WebConfig
    env: Environment
    sessions: Sessions

    @classmethod
    def make(cls, services: Services, config: WebConfig) -> WebContext:
        env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
        env.filters["mag"] = lambda v: "–" if v is None else f"{v:.2f}"
        from lensdb.web.security import EARLY_JS

        env.globals.update(viewer_url=viewer_url, sexagesimal=sexagesimal, BANDS=BANDS, STRETCHES=STRETCHES,
                           early_js=EARLY_JS)
        return cls(services, config, env, Sessions(services.grading, config.login_failures_per_minute))

    @property
    def grading(self):
        return self.services.grading

    def render(self, name: str, request: Request, http_status: int = 200, **ctx) -> HTMLResponse:
        html = self.env.get_template(name).render(grader=current_grader(request), request=request,
                                                  token_set=self.config.token is not None, **ctx)
        return HTMLResponse(html, status_code=http_status, headers={"Cache-Control": "no-store"})


def ctx_of(request: Request) -> WebContext:
    return request.app.state.web


def current_grader(request: Request) -> str | None:
    """The grader of the request's session (set by the access gate from the session cookie; ``None`` before
    login). Never a name the browser sends: the session fixes it at login."""
    return getattr(request.state, "grader", None)


def grader_of(request: Request) -> str:
    name = current_grader(request)
    if not name:
        raise InvalidInput("log in with your grader name first (/login)")
    return name


async def json_body(request: Request) -> dict:
    if request.headers.get("x-lensdb") != "1":
        raise InvalidInput("requests that change data need the header 'X-LensDB: 1' (the page sends it)")
    try:
        body = await request.json()
    except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep
        raise InvalidInput("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    _check_unicode(body, "")
    return body


def _check_unicode(value, where: str) -> None:
    """Refuse text that is not valid Unicode (a lone surrogate such as ``"\\ud800"``, which JSON can spell but
    no database can store), naming the field."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"{where or 'the request body'} holds text that is not valid Unicode (a lone "
                               "surrogate such as \\ud800); send UTF-8 text") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_unicode(k, "a field name")
            _check_unicode(v, k)
    elif isinstance(value, list):
        for v in value:
            _check_unicode(v, where)


def status_of(exc: BaseException) -> tuple[int, str]:
    """(HTTP status, message) of an error: engine failures read as domain errors first (Milvus or the database
    down -> 503); server paths cut to their file names; anything else is a bug: 500 without its text."""
    from lensdb.services.errors import as_domain

    domain = as_domain(exc)
    for cls, code in status_table():
        if isinstance(domain, cls):
            return code, redact_paths(str(domain))[:2000]
    return 500, "internal error; the server's log says what happened"


async def threaded(fn):
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn)


def to_int(value, name: str) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be an integer; got {value!r}")
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be an integer; got {value!r}") from None


def opt_int(value, name: str) -> int | None:
    return None if value in (None, "") else to_int(value, name)


def opt_real(value, name: str) -> float | None:
    """A number from JSON or a form field (text), ``None`` when empty."""
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be a number; got {value!r}")
    try:
        return float(str(value).strip()) if isinstance(value, str) else value
    except ValueError:
        raise InvalidInput(f"{name} must be a number; got {value!r}") from None


def display_params(q, zoom_default: str) -> tuple[str, str, int]:
    """``band``, ``stretch`` and ``zoom`` of a stamp from query parameters, checked."""
    band, stretch = q.get("band", "rgb"), q.get("stretch", "asinh")
    zoom = to_int(q.get("zoom", zoom_default), "zoom")
    if band not in BANDS or stretch not in STRETCHES or not 1 <= zoom <= 8:
        raise InvalidInput(f"band must be one of {', '.join(BANDS)}, stretch one of {', '.join(STRETCHES)} "
                           "and zoom 1-8")
    return band, stretch, zoom
