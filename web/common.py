"""What every route of the inspection page shares: the :class:`WebContext` (services, config, templates), reading
it from a request, JSON bodies, integer parameters, the error-to-status table and small display helpers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from lensdb.core.display import BANDS, STRETCHES
from lensdb.core.errors import BackendUnavailable, Conflict, InvalidInput, LensDBError, NotFound
from lensdb.core.exports import viewer_url
from lensdb.services import Services
from lensdb.web.config import WebConfig

HERE = Path(__file__).resolve().parent
GRADER_COOKIE, TOKEN_COOKIE = "lensdb_grader", "lensdb_token"
STATUS = {InvalidInput: 400, NotFound: 404, Conflict: 409, BackendUnavailable: 503}


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

    @classmethod
    def make(cls, services: Services, config: WebConfig) -> WebContext:
        env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
        env.filters["mag"] = lambda v: "–" if v is None else f"{v:.2f}"
        env.globals.update(viewer_url=viewer_url, sexagesimal=sexagesimal, BANDS=BANDS, STRETCHES=STRETCHES)
        return cls(services, config, env)

    @property
    def grading(self):
        return self.services.grading

    def render(self, name: str, request: Request, http_status: int = 200, **ctx) -> HTMLResponse:
        html = self.env.get_template(name).render(grader=cookie_grader(request), request=request,
                                                  token_set=self.config.token is not None, **ctx)
        return HTMLResponse(html, status_code=http_status, headers={"Cache-Control": "no-store"})


def ctx_of(request: Request) -> WebContext:
    return request.app.state.web


def cookie_grader(request: Request) -> str | None:
    """The grader's name from the login cookie (``None`` before login)."""
    raw = request.cookies.get(GRADER_COOKIE)
    return unquote(raw) if raw else None


def grader_of(request: Request) -> str:
    name = cookie_grader(request)
    if not name:
        raise InvalidInput("log in with your grader name first (/login)")
    return name


async def json_body(request: Request) -> dict:
    if request.headers.get("x-lensdb") != "1":
        raise InvalidInput("requests that change data need the header 'X-LensDB: 1' (the page sends it)")
    try:
        body = await request.json()
    except Exception:
        raise InvalidInput("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    return body


def status_of(exc: Exception) -> int:
    for cls, code in STATUS.items():
        if isinstance(exc, cls):
            return code
    return 400 if isinstance(exc, LensDBError) else 500


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


def display_params(q, zoom_default: str) -> tuple[str, str, int]:
    """``band``, ``stretch`` and ``zoom`` of a stamp from query parameters, checked."""
    band, stretch = q.get("band", "rgb"), q.get("stretch", "asinh")
    zoom = to_int(q.get("zoom", zoom_default), "zoom")
    if band not in BANDS or stretch not in STRETCHES or not 1 <= zoom <= 8:
        raise InvalidInput(f"band must be one of {', '.join(BANDS)}, stretch one of {', '.join(STRETCHES)} "
                           "and zoom 1-8")
    return band, stretch, zoom
