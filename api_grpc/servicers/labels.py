"""``lensdb.v1.Labels``: labels, grades, label sets, known-lens imports."""

from __future__ import annotations

from lensdb.api_grpc import errors
from lensdb.api_grpc.gen.lensdb.v1 import labels_pb2, labels_pb2_grpc
from lensdb.api_grpc.servicers import convert
from lensdb.services import Services
from lensdb.services.types import LensListUpload, NewLabel


def summary_pb(s) -> labels_pb2.LabelSetSummary:
    return labels_pb2.LabelSetSummary(name=s.name, author=s.author or "", created_at=convert.timestamp(s.created_at),
                                      source=s.source or "", lens=s.lens, grade_a=s.grade_a, grade_b=s.grade_b,
                                      near_lens=s.near_lens, non_lens=s.non_lens)


class LabelsServicer(labels_pb2_grpc.LabelsServicer):
    """Labels and grades (see :class:`lensdb.services.labels.LabelService`)."""

    def __init__(self, services: Services):
        self.services = services

    @errors.unary
    def AddLabels(self, request, context):
        labels = [NewLabel(lb.object_id, lb.label_class, convert.text(lb.grade), convert.text(lb.name),
                           convert.text(lb.note)) for lb in request.labels]
        res = self.services.labels.add_labels(request.label_set, labels, author=convert.text(request.author),
                                              description=convert.text(request.description))
        return labels_pb2.AddLabelsResponse(label_set=res.label_set, added=res.added, updated=res.updated,
                                            created_set=res.created_set)

    @errors.unary
    def RemoveLabels(self, request, context):
        removed = self.services.labels.remove_labels(request.label_set, request.object_ids,
                                                     convert.text(request.label_class))
        return labels_pb2.RemoveLabelsResponse(removed=removed)

    @errors.unary
    def RecordGrades(self, request, context):
        report = self.services.labels.record_grades(
            [(g.object_id, g.grade) for g in request.grades], author=convert.text(request.author),
            model=convert.text(request.model), label_set=convert.text(request.label_set),
            note=convert.text(request.note))
        return labels_pb2.RecordGradesResponse(label_set=report.label_set, grade_a=report.grade_a,
                                               grade_b=report.grade_b, not_lens=report.not_lens,
                                               replaced=report.replaced, model=report.model or "")

    @errors.unary
    def ListLabelSets(self, request, context):
        sets = self.services.labels.list_sets(convert.text(request.name))
        return labels_pb2.ListLabelSetsResponse(label_sets=[summary_pb(s) for s in sets])

    @errors.unary
    def GetLabelSet(self, request, context):
        page = self.services.labels.get_set(request.name, convert.text(request.label_class), request.page_size,
                                            request.page_token)
        records = [labels_pb2.LabelRecord(object_id=r.object_id, label_class=r.label_class, grade=r.grade or "",
                                          name=r.name or "", author=r.author or "", provenance=r.provenance or "",
                                          separation_arcsec=r.separation_arcsec, model=r.model or "",
                                          created_at=convert.timestamp(r.created_at))
                   for r in page.labels]
        return labels_pb2.GetLabelSetResponse(summary=summary_pb(page.summary), labels=records,
                                              next_page_token=page.next_page_token)

    @errors.unary
    def ImportLensList(self, request, context):
        upload = LensListUpload(
            filename=request.filename, content=request.content, name=convert.text(request.name),
            radius_arcsec=request.radius_arcsec or None, author=convert.text(request.author),
            grade_map=convert.text(request.grade_map), replace=request.replace,
            confirm_replace=convert.text(request.confirm_replace),
            ra_column=convert.text(request.ra_column), dec_column=convert.text(request.dec_column),
            name_column=convert.text(request.name_column), grade_column=convert.text(request.grade_column))
        r = self.services.labels.import_lens_list(upload)
        return labels_pb2.ImportLensListResponse(
            label_set=r.label_set, n_rows=r.n_rows, matched=r.matched, unmatched=r.unmatched,
            lens_labels=r.lens_labels, near_lens=r.near_lens, duplicates=r.duplicates,
            radius_arcsec=r.radius_arcsec, method=r.method, replaced=r.replaced,
            unmatched_lines=list(r.unmatched_lines),
            summary=r.summary() + (f"; warning: {r.warning}" if r.warning else ""))
