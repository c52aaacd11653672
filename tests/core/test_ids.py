"""Object identity: (release, brickid, objid) <-> int64, never a row position."""

import numpy as np
import pytest

from lensdb.core.ids import make_object_id, split_object_id, survey_from_release


def test_round_trip_and_uniqueness():
    rng = np.random.default_rng(0)
    release = rng.choice([9010, 9011], 10_000)
    brick = rng.integers(0, 662_174, 10_000)
    obj = rng.integers(0, 1 << 20, 10_000)
    oid = make_object_id(release, brick, obj)
    assert oid.dtype == np.int64 and (oid >= 0).all()
    r, b, o = split_object_id(oid)
    assert (r == release).all() and (b == brick).all() and (o == obj).all()
    triples = set(zip(release.tolist(), brick.tolist(), obj.tolist(), strict=True))
    assert len(set(oid.tolist())) == len(triples)


def test_documented_layout():
    assert int(make_object_id(9010, 3, 5)) == (9010 << 40) | (3 << 20) | 5


@pytest.mark.parametrize(("part", "args"), [("brickid", (9010, 1 << 20, 0)), ("objid", (9010, 0, -1)),
                                            ("release", (1 << 23, 0, 0))])
def test_out_of_range_parts_are_refused(part, args):
    with pytest.raises(ValueError, match=part):
        make_object_id(*args)


def test_survey_from_release():
    assert survey_from_release(9010) == "south" and survey_from_release(9011) == "north"
    with pytest.raises(ValueError, match="unknown release 9012"):
        survey_from_release(9012)
