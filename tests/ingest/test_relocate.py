"""Relocatable shards: a data folder moved after ingest keeps serving cutouts once its survey root is re-pointed
(by 'lensdb db survey-root' or by ingesting again from the new place)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from ingest_shards import write_test_shard

from lensdb.catalog import queries
from lensdb.catalog.db import make_engine
from lensdb.cli import main
from lensdb.core.config import load_settings
from lensdb.core.errors import Conflict, InvalidInput
from lensdb.ingest.cutouts import read_cutouts
from lensdb.ingest.pipeline import IngestConfig, ingest_paths
from lensdb.services.backends import Backends
from lensdb.services.config import ServiceConfig
from lensdb.services.cutouts import CutoutService


def _cutouts(engine, n=2):
    ids = sorted(queries.image_locations(engine, _all_ids(engine)))[:n]
    return read_cutouts(queries.image_locations(engine, ids), ids, missing="raise")


def _all_ids(engine):
    return [int(i) for i in queries.ids_matching(engine, None)]


@pytest.fixture
def survey(tmp_path):
    folder = tmp_path / "laptop" / "survey"
    (folder / "sub").mkdir(parents=True)
    write_test_shard(folder / "a.h5", 20, first_objid=0)
    write_test_shard(folder / "sub" / "b.h5", 10, first_objid=100)
    return folder


def test_moved_folder_served_after_survey_root_repointed(tmp_path, catalog_url, survey, capsys):
    engine = make_engine(catalog_url)
    try:
        report = ingest_paths(engine, [survey, survey / "sub"], config=IngestConfig(survey_root=str(survey)))
        assert report.ok and report.rows_written == 30
        roots = queries.survey_roots(engine)
        assert [(r.name, r.n_shards) for r in roots] == [("survey", 2)]
        assert sorted(s.stored_path for s in queries.shards(engine)) == ["a.h5", "sub/b.h5"]
        before = _cutouts(engine)

        moved = tmp_path / "cluster" / "volume"
        moved.parent.mkdir(parents=True)
        shutil.move(str(survey), str(moved))
        with pytest.raises(InvalidInput, match="no such file"):
            _cutouts(engine)
        data = ["--database-url", catalog_url]
        assert main([*data, "db", "shards"]) == 2
        assert "MISSING" in capsys.readouterr().out
        oid = sorted(queries.image_locations(engine, _all_ids(engine)))[0]
        settings = load_settings(env={}, data_dir=str(tmp_path / "data"), database_url=catalog_url)
        backends = Backends(settings, ServiceConfig())
        try:
            with pytest.raises(Conflict, match="re-point its survey root"):
                CutoutService(backends).get(oid, png=False)
            assert main([*data, "db", "survey-root", "survey", str(tmp_path / "nowhere")]) == 2
            assert main([*data, "db", "survey-root", "survey", str(moved)]) == 0
            assert f"-> {moved}" in capsys.readouterr().out
            np.testing.assert_array_equal(_cutouts(engine), before)
            # the cutout service (what 'lensdb query cutout' asks) serves it again
            np.testing.assert_array_equal(CutoutService(backends).get(oid, png=False).image, before[0])
        finally:
            backends.close()
        assert main([*data, "db", "shards"]) == 0
        assert main([*data, "db", "survey-root"]) == 0
        assert f"survey                        2 shard(s)  ok       {moved}" in capsys.readouterr().out.splitlines()[-1]
    finally:
        engine.dispose()


def test_ingest_from_the_new_place_repoints(tmp_path, catalog_engine, survey):
    assert ingest_paths(catalog_engine, [survey]).ok  # root: the shard's own folder
    before = _cutouts(catalog_engine)
    moved = tmp_path / "elsewhere"
    shutil.move(str(survey), str(moved))
    again = ingest_paths(catalog_engine, [moved])
    assert again.ok and [o.status for o in again.outcomes] == ["skipped"]
    assert "re-pointed" in again.outcomes[0].message and str(moved) in again.outcomes[0].message
    np.testing.assert_array_equal(_cutouts(catalog_engine), before)
    assert queries.shards(catalog_engine)[0].path == str(moved / "a.h5")
    # A copy at a third place: the shard alone is re-pointed there, the old folder still exists.
    copy = tmp_path / "copy"
    shutil.copytree(moved, copy)
    assert "re-pointed" in ingest_paths(catalog_engine, [copy]).outcomes[0].message
    assert queries.shards(catalog_engine)[0].path == str(copy / "a.h5")


def test_shard_outside_the_survey_root_is_refused(tmp_path, catalog_engine, survey):
    report = ingest_paths(catalog_engine, [survey], config=IngestConfig(survey_root=str(tmp_path / "other")))
    assert not report.ok and "not under the survey root" in report.rejected[0].message
    assert queries.shards(catalog_engine) == []


def _imposter(src, dst):
    """A copy of shard ``src`` at ``dst`` with the same name, ids and catalogue rows but other pixels (every
    image row reversed, as the red team did)."""
    import h5py

    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        f["images"][:] = f["images"][:][::-1]


def test_survey_root_refuses_a_folder_of_other_shards_with_the_same_names(tmp_path, catalog_url, survey, capsys):
    """Issue #27 item 4: pointing a root at another survey with the same file names was accepted and cutouts then
    served other galaxies' pixels. Each shard found must be the ingested file; nothing is changed otherwise."""
    engine = make_engine(catalog_url)
    try:
        assert ingest_paths(engine, [survey, survey / "sub"], config=IngestConfig(survey_root=str(survey))).ok
        before = _cutouts(engine)
        other = tmp_path / "other"
        _imposter(survey / "a.h5", other / "a.h5")
        shutil.copytree(survey / "sub", other / "sub")  # b.h5 is the real one
        data = ["--database-url", catalog_url]
        capsys.readouterr()
        assert main([*data, "db", "survey-root", "survey", str(other)]) == 2
        err = capsys.readouterr().err
        assert f"{other / 'a.h5'} is not the shard a.h5 that was ingested" in err and "nothing was changed" in err
        assert "Traceback" not in err
        assert main([*data, "db", "survey-root", "survey", str(other), "--force"]) == 2  # --force is for missing only
        assert queries.survey_roots(engine)[0].path == str(survey)
        np.testing.assert_array_equal(_cutouts(engine), before)
        # A folder whose shard is a symbolic link leading out of it is refused too (even to the real file).
        linked = tmp_path / "linked"
        (linked / "sub").mkdir(parents=True)
        (linked / "a.h5").symlink_to(survey / "a.h5")
        shutil.copy(survey / "sub" / "b.h5", linked / "sub" / "b.h5")
        assert main([*data, "db", "survey-root", "survey", str(linked)]) == 2
        err = capsys.readouterr().err
        assert "shard a.h5" in err and "symbolic link leading out" in err
        assert queries.survey_roots(engine)[0].path == str(survey)
        # A true copy is accepted.
        copy = tmp_path / "copy"
        shutil.copytree(survey, copy)
        assert main([*data, "db", "survey-root", "survey", str(copy)]) == 0
        assert "(2 shard(s))" in capsys.readouterr().out
        np.testing.assert_array_equal(_cutouts(engine), before)
    finally:
        engine.dispose()


def test_a_shard_path_that_leaves_its_root_is_refused(tmp_path, catalog_url, survey, capsys):
    """Issue #27 item 5: a shard row whose path is ``../../x.h5`` or absolute was read as given. Every shard path
    resolves inside its root or is refused (cutouts, listings), naming the shard."""
    from sqlalchemy import update

    from lensdb.catalog.models import Shard

    engine = make_engine(catalog_url)
    try:
        assert ingest_paths(engine, [survey], config=IngestConfig(survey_root=str(survey))).ok
        ids = _all_ids(engine)
        outside = tmp_path / "x.h5"
        shutil.copy(survey / "a.h5", outside)
        data = ["--database-url", catalog_url]
        for bad in ("../../x.h5", str(outside)):
            with engine.begin() as conn:
                conn.execute(update(Shard).where(Shard.name == "a.h5").values(path=bad))
            with pytest.raises(InvalidInput, match=r"shard a\.h5: its path .* (leaves its survey root|is absolute)"):
                queries.image_locations(engine, ids)
            capsys.readouterr()
            assert main([*data, "db", "shards"]) == 2
            out = capsys.readouterr().out
            assert "OUTSIDE" in out and "it is not read" in out
        # A symbolic link inside the root that leads out of it is refused the same way.
        with engine.begin() as conn:
            conn.execute(update(Shard).where(Shard.name == "a.h5").values(path="link.h5"))
        (survey / "link.h5").symlink_to(outside)
        with pytest.raises(InvalidInput, match=r"shard a\.h5: .*symbolic link leading out"):
            queries.image_locations(engine, ids)
        with engine.begin() as conn:
            conn.execute(update(Shard).where(Shard.name == "a.h5").values(path="a.h5"))
        assert len(queries.image_locations(engine, ids)) == 20
    finally:
        engine.dispose()


def test_survey_root_full_check_reads_every_image(tmp_path, catalog_url, survey, capsys):
    """An imposter that differs only in image rows the fingerprint does not sample passes the default check (file
    size, catalogue columns, 8 sampled rows) and is refused by --full (the sha256 of every image row, recorded at
    ingest since revision 0008). A shard ingested before 0008 has no full digest: --full says so."""
    import h5py
    from sqlalchemy import update

    from lensdb.catalog.models import Shard
    from lensdb.ingest.pipeline import IMAGE_SAMPLES

    engine = make_engine(catalog_url)
    try:
        assert ingest_paths(engine, [survey, survey / "sub"], config=IngestConfig(survey_root=str(survey))).ok
        assert all(s.images_sha256 for s in queries.shards(engine))
        other = tmp_path / "subtle"
        shutil.copytree(survey, other)
        sampled = {int(r) for r in np.linspace(0, 19, IMAGE_SAMPLES)}
        row = next(r for r in range(20) if r not in sampled)
        with h5py.File(other / "a.h5", "r+") as f:
            img = f["images"][row]
            f["images"][row] = img[:, ::-1]  # one unsampled cutout mirrored
        data = ["--database-url", catalog_url]
        capsys.readouterr()
        assert main([*data, "db", "survey-root", "survey", str(other), "--full"]) == 2
        err = capsys.readouterr().err
        assert "is not the shard a.h5 that was ingested: its images differ" in err
        assert queries.survey_roots(engine)[0].path == str(survey)
        assert main([*data, "db", "survey-root", "survey", str(other)]) == 0  # the sampled check cannot see it
        # Shards ingested before revision 0008: --full names them and relies on the fingerprint.
        with engine.begin() as conn:
            conn.execute(update(Shard).values(images_sha256=None))
        copy = tmp_path / "copy"
        shutil.copytree(survey, copy)
        capsys.readouterr()
        assert main([*data, "db", "survey-root", "survey", str(copy), "--full"]) == 0
        err = capsys.readouterr().err
        assert "shard a.h5: no full digest recorded" in err and "shard b.h5: no full digest recorded" in err
    finally:
        engine.dispose()
