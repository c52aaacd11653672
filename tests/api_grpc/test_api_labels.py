"""Label RPCs: add, update and remove labels, grades, label-set listing and paging, known-lens import."""

from __future__ import annotations

import uuid

import pytest

from lensdb.api_grpc.client import ApiError


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_add_update_and_remove_labels(world, client):
    name = _name("hand")
    a, b = int(world.ids[100]), int(world.ids[101])
    res = client.add_labels(name, [(a, "lens", "A"), (b, "non_lens")], author="ana", description="by hand")
    assert (res.added, res.updated, res.created_set) == (2, 0, True)
    again = client.add_labels(name, [(a, "lens", "B")], author="ana")
    assert (again.added, again.updated, again.created_set) == (0, 1, False)
    summary = client.label_sets(name)[0]
    assert (summary.lens, summary.grade_b, summary.non_lens, summary.author) == (1, 1, 1, "ana")
    assert client.remove_labels(name, [a, b], label_class="non_lens") == 1
    assert client.remove_labels(name, [a, b]) == 1
    assert client.label_sets(name)[0].lens == 0


def test_labels_of_unknown_objects_write_nothing(world, client):
    name = _name("bad")
    with pytest.raises(ApiError) as err:
        client.add_labels(name, [(int(world.ids[0]), "lens"), (123456789, "lens")])
    assert err.value.code.name == "NOT_FOUND"
    assert client.label_sets() and all(s.name != name for s in client.label_sets())


def test_imported_and_grading_sets_are_not_edited_by_hand(world, client):
    with pytest.raises(ApiError) as err:
        client.add_labels("known", [(int(world.ids[0]), "lens")])
    assert err.value.code.name == "FAILED_PRECONDITION" and "imported list" in err.value.details


def test_record_grades_and_regrade(world, client):
    name = _name("grades")
    ids = [int(i) for i in world.ids[110:114]]
    rep = client.grade({ids[0]: "A", ids[1]: "B", ids[2]: "not_lens", ids[3]: "fp"}, author="grader",
                       model=world.probe_name, label_set=name)
    assert (rep.grade_a, rep.grade_b, rep.not_lens, rep.replaced, rep.model) == (1, 1, 2, 0, world.probe_name)
    rep2 = client.grade({ids[0]: "B"}, author="grader", label_set=name)
    assert rep2.replaced == 1
    page = client.label_set(name)
    assert {(r.object_id, r.label_class, r.grade) for r in page.labels} == {
        (ids[0], "lens", "B"), (ids[1], "lens", "B"), (ids[2], "non_lens", ""), (ids[3], "non_lens", "")}
    assert page.summary.grade_b == 2
    with pytest.raises(ApiError) as err:
        client.add_labels(name, [(ids[0], "lens")])
    assert err.value.code.name == "FAILED_PRECONDITION"


def test_get_label_set_pages(world, client):
    page = client.label_set("known", label_class="lens", page_size=3)
    got = list(page.labels)
    while page.next_page_token:
        page = client.label_set("known", label_class="lens", page_size=3, page_token=page.next_page_token)
        got += list(page.labels)
    assert [r.object_id for r in got] == [int(i) for i in world.lenses]
    assert all(r.author == "tests" for r in got)


def test_import_lens_list_upload(world, client, tmp_path):
    c = world.columns
    path = tmp_path / "my_lenses.csv"
    path.write_text("name,ra,dec,grading\n"
                    f"L1,{c['ra'][50]:.8f},{c['dec'][50]:.8f},confident\n"
                    f"L2,{c['ra'][60] + 2 / 3600:.8f},{c['dec'][60]:.8f},probable\n"
                    "far,10.0,-40.0,confident\n")
    name = _name("upload")
    res = client.import_lens_list(path, name=name, grade_map="confident=A,probable=B", author="me")
    assert (res.label_set, res.n_rows, res.matched, res.unmatched, res.lens_labels) == (name, 3, 2, 1, 2)
    assert list(res.unmatched_lines) == [4] and "label set" in res.summary
    labels = {r.object_id: r for r in client.label_set(name).labels}
    assert labels[int(world.ids[50])].grade == "A" and labels[int(world.ids[60])].grade == "B"
    assert labels[int(world.ids[50])].provenance == "my_lenses.csv:2"
    again = client.import_lens_list(path, name=name, grade_map="confident=A,probable=B")
    assert again.replaced == 2


def test_import_lens_list_upload_in_fits_and_votable_and_the_footprint_warning(world, client, tmp_path):
    from astropy.table import Table

    c = world.columns
    for ending, fmt in (("fits", "fits"), ("vot", "votable")):
        path = tmp_path / f"my_lenses.{ending}"
        Table({"ra": [c["ra"][50], c["ra"][60]], "dec": [c["dec"][50], c["dec"][60]]}).write(path, format=fmt)
        res = client.import_lens_list(path, name=_name(ending))
        assert (res.n_rows, res.matched, res.lens_labels) == (2, 2, 2) and "warning" not in res.summary
    far = tmp_path / "far.ecsv"
    Table({"ra": [200.0], "dec": [-60.0]}).write(far)
    res = client.import_lens_list(far, name=_name("far"))
    assert res.matched == 0 and "warning: only 0 of 1 entries" in res.summary and "footprint" in res.summary


def test_import_of_a_malformed_list_is_invalid(world, client, tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text("name,foo\nx,1\n")
    with pytest.raises(ApiError) as err:
        client.import_lens_list(path, name=_name("broken"))
    assert err.value.code.name == "INVALID_ARGUMENT"
