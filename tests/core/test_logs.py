"""The log filter that hides Milvus Lite's expected AllocTimestamp noise, and nothing else."""

import logging
import sys

from lensdb.core.logs import LiteTimestampNoise, setup_logging


def _record(name: str, msg: str, exc: BaseException | None = None) -> logging.LogRecord:
    info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, None, info)


def _raised_in(func_name: str) -> BaseException:
    namespace: dict = {}
    exec(f"def {func_name}():\n    raise NotImplementedError('Method not implemented!')", namespace)
    try:
        namespace[func_name]()
    except NotImplementedError:
        return sys.exc_info()[1]
    raise AssertionError("unreachable")


def test_drops_only_the_lite_timestamp_records():
    f = LiteTimestampNoise()
    assert not f.filter(_record("grpc._server", "Exception calling application", _raised_in("AllocTimestamp")))
    assert not f.filter(_record("pymilvus.client.iterator.query_iterator",
                                "failed to get mvccTs from milvus server, use client-side ts instead"))
    # the same exception from any other call, and any other error, still get through
    assert f.filter(_record("grpc._server", "Exception calling application", _raised_in("Search")))
    assert f.filter(_record("grpc._server", "Exception calling application", ValueError("boom")))
    assert f.filter(_record("grpc._server", "something else"))


def test_setup_logging_installs_the_filter_once():
    setup_logging("INFO")
    setup_logging("INFO")
    for name in ("grpc._server", "pymilvus.client.iterator.query_iterator"):
        assert sum(isinstance(f, LiteTimestampNoise) for f in logging.getLogger(name).filters) == 1
