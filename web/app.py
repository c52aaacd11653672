"""The inspection page's routes (Starlette; pages rendered with Jinja2, autoescaped).

Pages (HTML):
    ``/``                              grading sets, queues and a form for a new queue
    ``/login``                         grader name (and the token when one is set)
    ``/queue/{id}``                    the page where the grader stopped
    ``/queue/{id}/page/{n}``           a grid of stamps (5 x 20 by default), graded with the keyboard
    ``/object/{id}``                   one object: bands, stretches, zoom, scale bar, catalogue values, labels,
                                       the Legacy Survey viewer link, grading when opened from a queue
    ``/object/{id}/neighbours``        its nearest neighbours in the vector store
    ``/stats``                         consensus, graders, calibration, agreement, active-learning rounds

Data:
    ``/stamp/{id}.png``                a stamp (``band`` rgb|g|r|z, ``stretch`` asinh|linear|zscale, ``zoom`` 1-8,
                                       ``bar`` 0|1)
    ``POST /api/login``, ``/api/logout``, ``/api/queues``, ``/api/grade``, ``/api/undo``, ``/api/rounds``
    ``GET /api/queues/{id}/page/{n}``, ``/api/stats``, ``/healthz``

Every POST takes JSON and must carry the header ``X-LensDB: 1`` (a cross-site form cannot send it, so no other site
can grade in a grader's name). With a token set, every route but the login and the health check needs the token
(the login cookie, or ``Authorization: Bearer``). Errors answer with the problem and what to do (JSON for /api,
a page otherwise), never a traceback.
"""

from __future__ import annotations

import hmac
import io
import logging
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from lensdb.core.display import BANDS, STRETCHES, stamp_rgb
from lensdb.core.errors import BackendUnavailable, Conflict, InvalidInput, LensDBError, NotFound
from lensdb.core.units import PIXEL_SCALE_ARCSEC
from lensdb.services import Services
from lensdb.web.config import WebConfig

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
GRADER_COOKIE, TOKEN_COOKIE = "lensdb_grader", "lensdb_token"
STATUS = {InvalidInput: 400, NotFound: 404, Conflict: 409, BackendUnavailable: 503}
OPEN_PATHS = ("/login", "/api/login", "/healthz", "/readyz", "/static/")


def viewer_url(ra: float, dec: float, zoom: int = 16) -> str:
    """The Legacy Survey viewer at a position (DR9 layer)."""
    return f"https://www.legacysurvey.org/viewer?ra={ra:.6f}&dec={dec:.6f}&layer=ls-dr9&zoom={zoom}"


def sexagesimal(ra: float, dec: float) -> str:
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    return SkyCoord(ra * u.deg, dec * u.deg).to_string("hmsdms", sep=":", precision=2)


def _status(exc: Exception) -> int:
    for cls, code in STATUS.items():
        if isinstance(exc, cls):
            return code
    return 400 if isinstance(exc, LensDBError) else 500


def create_app(services: Services, config: WebConfig) -> Starlette:
    """The Starlette app over ``services``."""
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    env.filters["mag"] = lambda v: "–" if v is None else f"{v:.2f}"
    env.globals.update(viewer_url=viewer_url, sexagesimal=sexagesimal, BANDS=BANDS, STRETCHES=STRETCHES)
    grading = services.grading

    def render(name: str, request: Request, http_status: int = 200, **ctx) -> HTMLResponse:
        html = env.get_template(name).render(grader=cookie_grader(request), request=request,
                                             token_set=config.token is not None, **ctx)
        return HTMLResponse(html, status_code=http_status, headers={"Cache-Control": "no-store"})

    def authorised(request: Request) -> bool:
        if config.token is None:
            return True
        given = request.cookies.get(TOKEN_COOKIE) or ""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            given = header[7:].strip()
        return hmac.compare_digest(given.encode(), config.token.encode())

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

    # ------------------------------------------------------------------ pages
    def index(request: Request):
        every = services.labels.list_sets()
        sets = [s for s in every if s.source == "lensdb grade"]
        queues = grading.queues()
        grader = cookie_grader(request)
        progress = grading.progress(grader, [q.id for q in queues]) if grader else {}
        models = services.probes.list_models()
        lists = [s for s in every if s.source != "lensdb grade"]
        return render("index.html", request, sets=sets, queues=queues, progress=progress, models=models,
                      lists=lists, default_set=grading.config.label_set)

    def login_page(request: Request):
        return render("login.html", request, next=request.query_params.get("next", "/"))

    def queue_resume(request: Request):
        info = grading.queue(_int(request.path_params["queue_id"], "queue"))
        page = grading.page(info.id, grader_of(request))
        return RedirectResponse(f"/queue/{info.id}/page/{page.page}", status_code=303)

    def queue_page(request: Request):
        page = grading.page(_int(request.path_params["queue_id"], "queue"), grader_of(request),
                            _int(request.path_params["page"], "page"))
        return render("queue.html", request, page=page, stamp_px=config.stamp_px, cols=grading.config.page_cols)

    def object_page(request: Request):
        oid = _int(request.path_params["object_id"], "object_id")
        found, _ = services.catalogue.get_objects([oid], with_labels=True)
        if not found:
            raise NotFound(f"object {oid} is not in the catalogue; check the id")
        obj = found[0]
        q = request.query_params
        band, stretch = q.get("band", "rgb"), q.get("stretch", "asinh")
        zoom = _int(q.get("zoom", "4"), "zoom")
        if band not in BANDS or stretch not in STRETCHES or not 1 <= zoom <= 8:
            raise InvalidInput(f"band must be one of {', '.join(BANDS)}, stretch one of {', '.join(STRETCHES)} "
                               "and zoom 1-8")
        queue = item = mine = None
        if q.get("queue"):
            queue = grading.queue(_int(q["queue"], "queue"))
            item, mine = grading.item(queue.id, oid, cookie_grader(request))
        return render("object.html", request, obj=obj, band=band, stretch=stretch, zoom=zoom, queue=queue,
                      item=item, mine=mine, pixel_scale=PIXEL_SCALE_ARCSEC)

    def neighbours_page(request: Request):
        from lensdb.services.types import SimilarQuery

        oid = _int(request.path_params["object_id"], "object_id")
        k = _int(request.query_params.get("k", "20"), "k")
        result = services.search.similar(SimilarQuery(k=min(max(k, 1), 200), object_id=oid))
        return render("neighbours.html", request, object_id=oid, result=result, stamp_px=config.stamp_px)

    def stats_page(request: Request):
        name = request.query_params.get("label_set") or grading.config.label_set
        try:
            stats = grading.stats(name)
        except NotFound:
            stats = None
        return render("stats.html", request, stats=stats, label_set=name)

    # ------------------------------------------------------------------ data
    def stamp(request: Request):
        from PIL import Image, ImageDraw

        oid = _int(request.path_params["object_id"], "object_id")
        q = request.query_params
        band, stretch = q.get("band", "rgb"), q.get("stretch", "asinh")
        zoom, bar = _int(q.get("zoom", "1"), "zoom"), q.get("bar", "1") != "0"
        if band not in BANDS or stretch not in STRETCHES or not 1 <= zoom <= 8:
            raise InvalidInput(f"band must be one of {', '.join(BANDS)}, stretch one of {', '.join(STRETCHES)} "
                               "and zoom 1-8")
        cut = services.cutouts.get(oid, png=False)
        rgb = np.flipud(stamp_rgb(cut.image, band, stretch))  # north up
        img = Image.fromarray(np.ascontiguousarray(np.round(rgb * 255).astype(np.uint8)))
        if zoom > 1:
            img = img.resize((img.width * zoom, img.height * zoom), Image.Resampling.NEAREST)
        if bar:  # 5 arcsec, bottom left
            length = 5.0 / cut.pixel_scale_arcsec * zoom
            draw = ImageDraw.Draw(img)
            y = img.height - max(3, img.height // 24)
            x0 = max(2, img.width // 20)
            draw.line([(x0, y), (x0 + length, y)], fill=(255, 255, 255), width=max(1, zoom // 2))
            if zoom >= 2:
                draw.text((x0, y - 12), '5"', fill=(255, 255, 255))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return Response(buf.getvalue(), media_type="image/png", headers={"Cache-Control": "private, max-age=600"})

    async def api_login(request: Request):
        body = await json_body(request)
        grader = str(body.get("grader") or "").strip()
        from lensdb.services import validate

        validate.name("grader", grader)
        if config.token is not None and not hmac.compare_digest(str(body.get("token") or "").encode(),
                                                                config.token.encode()):
            return JSONResponse({"error": "wrong token: ask whoever runs this LensDB for the grading token"},
                                status_code=401)
        resp = JSONResponse({"grader": grader})
        resp.set_cookie(GRADER_COOKIE, quote(grader, safe=""), max_age=365 * 86400, samesite="strict",
                        httponly=True)
        if config.token is not None:
            resp.set_cookie(TOKEN_COOKIE, config.token, max_age=30 * 86400, samesite="strict", httponly=True)
        return resp

    async def api_logout(request: Request):
        await json_body(request)
        resp = JSONResponse({"ok": True})
        resp.delete_cookie(GRADER_COOKIE)
        resp.delete_cookie(TOKEN_COOKIE)
        return resp

    async def api_create_queue(request: Request):
        body = await json_body(request)
        grader = grader_of(request)
        seeds, negatives = _id_list(body, "object_ids"), _id_list(body, "negative_ids")
        info = await _threaded(lambda: grading.create_queue(
            str(body.get("kind", "")), grader=grader, label_set=body.get("label_set") or None,
            model=body.get("model") or None, object_ids=seeds, source_set=body.get("source_set") or None,
            size=_opt_int(body.get("size"), "size"), calibration_share=body.get("calibration_share"),
            name=body.get("name") or None, seed=_opt_int(body.get("seed"), "seed") or 0,
            negative_ids=negatives, method=body.get("method") or None))
        return JSONResponse({"queue": info.id, "n_items": info.n_items, "url": f"/queue/{info.id}"})

    def api_page(request: Request):
        page = grading.page(_int(request.path_params["queue_id"], "queue"), grader_of(request),
                            _int(request.path_params["page"], "page"))
        return JSONResponse({"queue": page.queue.id, "page": page.page, "n_pages": page.n_pages,
                             "cursor": page.cursor, "stale": page.stale, "superseded_by": page.queue.superseded_by,
                             "items": [{"position": i.position, "object_id": str(i.object_id), "ra": i.ra,
                                        "dec": i.dec, "score": i.score, "rank": i.rank, "my_grade": i.my_grade}
                                       for i in page.items]})

    async def api_grade(request: Request):
        body = await json_body(request)
        grader = grader_of(request)
        res = await _threaded(lambda: grading.grade(_int(body.get("queue"), "queue"), grader,
                                                    _int(body.get("object_id"), "object_id"), body.get("grade"),
                                                    note=body.get("note") or None))
        return JSONResponse(_result(res))

    async def api_undo(request: Request):
        body = await json_body(request)
        grader = grader_of(request)
        res = await _threaded(lambda: grading.undo(_int(body.get("queue"), "queue"), grader,
                                                   _int(body.get("object_id"), "object_id"), body.get("previous")))
        return JSONResponse(_result(res))

    def api_stats(request: Request):
        return JSONResponse(grading.stats(request.query_params.get("label_set") or None))

    async def api_round(request: Request):
        body = await json_body(request)
        grader = grader_of(request)
        out = await _threaded(lambda: grading.run_round(grader=grader, label_set=body.get("label_set") or None,
                                                        size=_opt_int(body.get("size"), "size")))
        return JSONResponse(out)

    def healthz(request: Request):
        return JSONResponse({"status": "ok"})

    def readyz(request: Request):
        problem = services.backends.ping_database()
        if problem:
            return JSONResponse({"status": "unavailable", "error": f"the catalogue does not answer: {problem}"},
                                status_code=503)
        return JSONResponse({"status": "ok"})

    # ------------------------------------------------------------------ errors and access
    async def on_error(request: Request, exc: Exception):
        if isinstance(exc, HTTPException):
            status, message = exc.status_code, exc.detail or "not found"
            if status == 404:
                message = f"there is no page {request.url.path}; start from the front page (/)"
        else:
            status = _status(exc)
            message = str(exc) if status < 500 else "internal error; the server's log says what happened"
            if status >= 500:
                log.exception("%s %s failed", request.method, request.url.path)
        if request.url.path.startswith(("/api/", "/stamp/")):
            return JSONResponse({"error": message}, status_code=status)
        return render("error.html", request, http_status=status, status=status, message=message)

    routes = [
        Route("/", index), Route("/login", login_page), Route("/healthz", healthz), Route("/readyz", readyz),
        Route("/queue/{queue_id}", queue_resume), Route("/queue/{queue_id}/page/{page}", queue_page),
        Route("/object/{object_id}", object_page), Route("/object/{object_id}/neighbours", neighbours_page),
        Route("/stats", stats_page), Route("/stamp/{object_id}.png", stamp),
        Route("/api/login", api_login, methods=["POST"]), Route("/api/logout", api_logout, methods=["POST"]),
        Route("/api/queues", api_create_queue, methods=["POST"]),
        Route("/api/queues/{queue_id}/page/{page}", api_page),
        Route("/api/grade", api_grade, methods=["POST"]), Route("/api/undo", api_undo, methods=["POST"]),
        Route("/api/stats", api_stats), Route("/api/rounds", api_round, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    async def access(request: Request, call_next):
        path = request.url.path
        if not path.startswith(OPEN_PATHS) and not authorised(request):
            if path.startswith(("/api/", "/stamp/")):
                return JSONResponse({"error": "a token is required: log in at /login (or send Authorization: "
                                              "Bearer <token>)"}, status_code=401)
            return RedirectResponse(f"/login?next={quote(path)}", status_code=303)
        if (not path.startswith(OPEN_PATHS) and not path.startswith(("/api/", "/stamp/"))
                and path != "/" and not request.cookies.get(GRADER_COOKIE) and path not in ("/stats",)):
            return RedirectResponse(f"/login?next={quote(path)}", status_code=303)
        try:
            response = await call_next(request)
        except Exception as exc:  # errors raised below the routes (the handlers catch the rest)
            return await on_error(request, exc)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'")
        return response

    return Starlette(routes=routes, exception_handlers={Exception: on_error, HTTPException: on_error},
                     middleware=[Middleware(BaseHTTPMiddleware, dispatch=access)])


def cookie_grader(request: Request) -> str | None:
    """The grader's name from the login cookie (``None`` before login)."""
    raw = request.cookies.get(GRADER_COOKIE)
    return unquote(raw) if raw else None


async def _threaded(fn):
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn)


def _result(res) -> dict:
    return {"object_id": str(res.object_id), "grade": res.grade, "replaced": res.replaced, "cursor": res.cursor,
            "stale": res.stale, "next_queue": res.next_queue}


def _int(value, name: str) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be an integer; got {value!r}")
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be an integer; got {value!r}") from None


def _id_list(body: dict, key: str) -> list:
    """``body[key]``: a list of object ids, or a string of them separated by spaces or commas."""
    ids = body.get(key) or []
    if isinstance(ids, str):
        try:
            return [int(x) for x in ids.replace(",", " ").split() if x]
        except ValueError:
            raise InvalidInput(f"{key}: give object ids (integers) separated by spaces or commas") from None
    return ids


def _opt_int(value, name: str) -> int | None:
    return None if value in (None, "") else _int(value, name)
