"""The HTML pages: the front page, the login form, a queue's pages of stamps, one object, its neighbours and the
statistics."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from lensdb.core.errors import InvalidInput, NotFound
from lensdb.core.units import PIXEL_SCALE_ARCSEC
from lensdb.web.common import current_grader, ctx_of, display_params, grader_of, to_int


def index(request: Request):
    w = ctx_of(request)
    every = w.services.labels.list_sets()
    sets = [s for s in every if s.source == "lensdb grade"]
    queues = w.grading.queues()
    grader = current_grader(request)
    progress = w.grading.progress(grader, [q.id for q in queues]) if grader else {}
    models = w.services.probes.list_models()
    lists = [s for s in every if s.source != "lensdb grade"]
    return w.render("index.html", request, sets=sets, queues=queues, progress=progress, models=models,
                    lists=lists, default_set=w.grading.config.label_set)


def login_page(request: Request):
    from lensdb.web.auth import safe_next

    return ctx_of(request).render("login.html", request, next=safe_next(request.query_params.get("next")))


def queue_resume(request: Request):
    w = ctx_of(request)
    info = w.grading.queue(to_int(request.path_params["queue_id"], "queue"))
    page = w.grading.page(info.id, grader_of(request))
    return RedirectResponse(f"/queue/{info.id}/page/{page.page + 1}", status_code=303)


def queue_page(request: Request):
    """``/queue/{id}/page/{n}``: page ``n`` of a queue, counted from 1 as the page shows it."""
    w = ctx_of(request)
    grader = grader_of(request)
    info = w.grading.queue(to_int(request.path_params["queue_id"], "queue"))
    number = to_int(request.path_params["page"], "page")
    n_pages = w.grading.n_pages(info)
    if not 1 <= number <= n_pages:
        raise InvalidInput(f"page {number} does not exist: queue {info.id} has pages 1 to {n_pages}; "
                           f"open /queue/{info.id} to resume where you stopped")
    page = w.grading.page(info.id, grader, number - 1)
    return w.render("queue.html", request, page=page, stamp_px=w.config.stamp_px, cols=w.grading.config.page_cols)


def object_page(request: Request):
    w = ctx_of(request)
    oid = to_int(request.path_params["object_id"], "object_id")
    found, _ = w.services.catalogue.get_objects([oid], with_labels=True)
    if not found:
        raise NotFound(f"object {oid} is not in the catalogue; check the id")
    obj = found[0]
    q = request.query_params
    band, stretch, zoom = display_params(q, "4")
    queue = item = mine = None
    keep, back, page_index = "", "/", 0
    if q.get("queue"):
        queue = w.grading.queue(to_int(q["queue"], "queue"))
        item, mine = w.grading.item(queue.id, oid, current_grader(request))
        page_index = min(max(to_int(q.get("page", "0"), "page"), 0), w.grading.n_pages(queue) - 1)
        if item is not None and "page" not in q:
            page_index = int(item.position) // w.grading.config.page_size
        keep = f"&queue={queue.id}&page={page_index}"
        back = f"/queue/{queue.id}/page/{page_index + 1}"
    return w.render("object.html", request, obj=obj, band=band, stretch=stretch, zoom=zoom, queue=queue,
                    item=item, mine=mine, pixel_scale=PIXEL_SCALE_ARCSEC, keep=keep, back=back,
                    page_index=page_index)


def neighbours_page(request: Request):
    from lensdb.services.types import SimilarQuery

    w = ctx_of(request)
    oid = to_int(request.path_params["object_id"], "object_id")
    k = to_int(request.query_params.get("k", "20"), "k")
    result = w.services.search.similar(SimilarQuery(k=min(max(k, 1), 200), object_id=oid))
    queue = w.grading.queue(to_int(request.query_params["queue"], "queue")) \
        if request.query_params.get("queue") else None
    return w.render("neighbours.html", request, object_id=oid, result=result, stamp_px=w.config.stamp_px,
                    queue=queue)


def stats_page(request: Request):
    w = ctx_of(request)
    name = request.query_params.get("label_set") or w.grading.config.label_set
    try:
        stats = w.grading.stats(name)
        review = w.grading.review_lists(name)
    except NotFound:
        stats = review = None
    return w.render("stats.html", request, stats=stats, review=review, label_set=name, stamp_px=w.config.stamp_px)


def guide_page(request: Request):
    """``/guide``: the tutorial and field guide, with examples from this survey, and the training button."""
    w = ctx_of(request)
    return w.render("guide.html", request, groups=w.grading.field_guide(), stamp_px=w.config.stamp_px)


ROUTES = [
    Route("/", index), Route("/login", login_page),
    Route("/queue/{queue_id}", queue_resume), Route("/queue/{queue_id}/page/{page}", queue_page),
    Route("/object/{object_id}", object_page), Route("/object/{object_id}/neighbours", neighbours_page),
    Route("/stats", stats_page), Route("/guide", guide_page),
]
