"""The page's JSON API: queues, pages of a queue, grades, undo, statistics, active-learning rounds, health."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lensdb.core.errors import InvalidInput
from lensdb.web.common import ctx_of, grader_of, json_body, opt_int, opt_real, threaded, to_int


async def create_queue(request: Request):
    w = ctx_of(request)
    body = await json_body(request)
    grader = grader_of(request)
    seeds, negatives = _id_list(body, "object_ids"), _id_list(body, "negative_ids")
    info = await threaded(lambda: w.grading.create_queue(
        str(body.get("kind", "")), grader=grader, label_set=body.get("label_set") or None,
        model=body.get("model") or None, object_ids=seeds, source_set=body.get("source_set") or None,
        size=opt_int(body.get("size"), "size"), calibration_share=body.get("calibration_share"),
        name=body.get("name") or None, seed=opt_int(body.get("seed"), "seed") or 0,
        review=body.get("review") or None, min_score=opt_real(body.get("min_score"), "min_score"),
        negative_ids=negatives, method=body.get("method") or None))
    return JSONResponse({"queue": info.id, "n_items": info.n_items, "url": f"/queue/{info.id}"})


def _id_list(body: dict, key: str) -> list:
    """``body[key]``: a list of object ids, or a string of them separated by spaces or commas."""
    ids = body.get(key) or []
    if isinstance(ids, str):
        try:
            return [int(x) for x in ids.replace(",", " ").split() if x]
        except ValueError:
            raise InvalidInput(f"{key}: give object ids (integers) separated by spaces or commas") from None
    return ids


def queue_page(request: Request):
    w = ctx_of(request)
    page = w.grading.page(to_int(request.path_params["queue_id"], "queue"), grader_of(request),
                          to_int(request.path_params["page"], "page"))
    return JSONResponse({"queue": page.queue.id, "page": page.page, "n_pages": page.n_pages,
                         "cursor": page.cursor, "stale": page.stale, "superseded_by": page.queue.superseded_by,
                         "items": [{"position": i.position, "object_id": str(i.object_id), "ra": i.ra,
                                    "dec": i.dec, "score": i.score, "rank": i.rank, "my_grade": i.my_grade,
                                    "retired": i.retired}
                                   for i in page.items]})


async def grade(request: Request):
    w = ctx_of(request)
    body = await json_body(request)
    grader = grader_of(request)
    arc = None
    if body.get("arc") not in (None, ""):
        if not isinstance(body["arc"], list) or len(body["arc"]) != 2:
            raise InvalidInput("arc must be [x, y]: where the lensed feature is, in cutout pixels of the stamp")
        arc = (opt_real(body["arc"][0], "arc_x"), opt_real(body["arc"][1], "arc_y"))
    if body.get("arc_frac") not in (None, "") and arc is None:  # a mark made in the grid: a fraction of the stamp
        frac = body["arc_frac"]
        if not isinstance(frac, list) or len(frac) != 2:
            raise InvalidInput("arc_frac must be [x, y]: where the lensed feature is, as fractions of the stamp")
        fx, fy = opt_real(frac[0], "arc_frac x"), opt_real(frac[1], "arc_frac y")
        if fx is None or fy is None or not (0.0 <= fx <= 1.0 and 0.0 <= fy <= 1.0):
            raise InvalidInput(f"arc_frac must hold two numbers in [0, 1]; got {frac!r}")
        oid = to_int(body.get("object_id"), "object_id")
        side = (await threaded(lambda: w.services.cutouts.get(oid, png=False))).image.shape[-1]
        arc = (round(fx * side, 1), round(fy * side, 1))
    flag = body.get("flag") or None
    if flag is not None and not isinstance(flag, str):
        raise InvalidInput(f"flag must be text; got {flag!r}")
    res = await threaded(lambda: w.grading.grade(to_int(body.get("queue"), "queue"), grader,
                                                 to_int(body.get("object_id"), "object_id"), body.get("grade"),
                                                 note=body.get("note") or None, flag=flag, arc=arc))
    return JSONResponse(_result(res))


async def undo(request: Request):
    w = ctx_of(request)
    body = await json_body(request)
    grader = grader_of(request)
    res = await threaded(lambda: w.grading.undo(to_int(body.get("queue"), "queue"), grader,
                                                to_int(body.get("object_id"), "object_id"), body.get("previous")))
    return JSONResponse(_result(res))


def stats(request: Request):
    return JSONResponse(ctx_of(request).grading.stats(request.query_params.get("label_set") or None))


async def start_round(request: Request):
    """``POST /api/rounds``: start one active-learning round in the background (retrain, rescore, next queue; see
    ``GradingService.start_round``), or join the running one: 202 with its job and where to follow it."""
    w = ctx_of(request)
    body = await json_body(request)
    grader = grader_of(request)
    size = opt_int(body.get("size"), "size")
    out = await threaded(lambda: w.grading.start_round(grader=grader, label_set=body.get("label_set") or None,
                                                       size=size))
    return JSONResponse({**out, "progress_url": f"/api/rounds/{out['job']}"}, status_code=202)


async def round_progress(request: Request):
    """``GET /api/rounds/{job_id}``: the steps of a round started by ``POST /api/rounds``."""
    w = ctx_of(request)
    job = to_int(request.path_params["job_id"], "job")
    return JSONResponse(await threaded(lambda: w.grading.round_progress(job)))


def healthz(request: Request):
    return JSONResponse({"status": "ok"})


def readyz(request: Request):
    problem = ctx_of(request).services.backends.ping_database()
    if problem:
        return JSONResponse({"status": "unavailable", "error": f"the catalogue does not answer: {problem}"},
                            status_code=503)
    return JSONResponse({"status": "ok"})


def _result(res) -> dict:
    return {"object_id": str(res.object_id), "grade": res.grade, "replaced": res.replaced, "cursor": res.cursor,
            "stale": res.stale, "next_queue": res.next_queue, "feedback": res.feedback}


ROUTES = [
    Route("/healthz", healthz), Route("/readyz", readyz),
    Route("/api/queues", create_queue, methods=["POST"]),
    Route("/api/queues/{queue_id}/page/{page}", queue_page),
    Route("/api/grade", grade, methods=["POST"]), Route("/api/undo", undo, methods=["POST"]),
    Route("/api/stats", stats),
    Route("/api/rounds", start_round, methods=["POST"]), Route("/api/rounds/{job_id}", round_progress),
]
