"""Configuration: defaults < file < environment < flags, typed sections, clear errors."""

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from lensdb.core.config import ConfigError, load_section, load_settings


def test_defaults_live_in_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(env={})
    assert s.data_dir == Path("lensdb-data")
    assert s.database_url == f"sqlite:///{(tmp_path / 'lensdb-data' / 'lensdb.sqlite').resolve()}"
    assert s.milvus_uri == str((tmp_path / "lensdb-data" / "milvus.db").resolve())
    assert s.milvus_token is None and s.log_level == "INFO" and s.config_file is None


def test_precedence_file_env_flags(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('data_dir = "/from/file"\nmilvus_uri = "http://file:19530"\nlog_level = "debug"\n'
                   '[simulate]\nn_objects = 7\n')
    s = load_settings(config_file=cfg, env={})
    assert s.data_dir == Path("/from/file") and s.milvus_uri == "http://file:19530" and s.log_level == "DEBUG"
    assert s.database_url == "sqlite:////from/file/lensdb.sqlite"
    s = load_settings(config_file=cfg, env={"LENSDB_MILVUS_URI": "http://env:1", "LENSDB_MILVUS_TOKEN": "u:p"})
    assert s.milvus_uri == "http://env:1" and s.milvus_token == "u:p"
    s = load_settings(config_file=cfg, env={"LENSDB_MILVUS_URI": "http://env:1"}, milvus_uri="http://flag:2")
    assert s.milvus_uri == "http://flag:2"
    assert s.sections == {"simulate": {"n_objects": 7}}


def test_config_file_found_in_data_dir_and_through_env(tmp_path):
    (tmp_path / "lensdb.toml").write_text('database_url = "postgresql://x@h/db"\n')
    assert load_settings(env={"LENSDB_DATA_DIR": str(tmp_path)}).database_url == "postgresql://x@h/db"
    other = tmp_path / "other.toml"
    other.write_text('database_url = "sqlite:///o.sqlite"\n')
    s = load_settings(env={"LENSDB_DATA_DIR": str(tmp_path), "LENSDB_CONFIG": str(other)})
    assert s.database_url == "sqlite:///o.sqlite" and s.config_file == other


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("data_dir = [", "not valid TOML"),
        ('colour = "red"\n', "unknown top-level key"),
        ('log_level = "LOUD"\n', "log_level"),
    ],
)
def test_bad_config_files_are_named(tmp_path, text, match):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_settings(config_file=cfg, env={})


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_file=tmp_path / "nope.toml", env={})


def test_config_mistakes_are_named(tmp_path):
    """A folder, a file that is not UTF-8, and a misspelt section: each a message that says what is wrong."""
    with pytest.raises(ConfigError, match="is a folder; pass the TOML file itself"):
        load_settings(config_file=tmp_path, env={})
    latin = tmp_path / "latin.toml"
    latin.write_bytes('[serve]\n# caf\xe9\nport = 1\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_settings(config_file=latin, env={})
    typo = tmp_path / "typo.toml"
    typo.write_text("[servce]\nport = 1\n")
    with pytest.raises(ConfigError, match=r"unknown section\(s\) \[servce\]; known: .*\[serve\]"):
        load_settings(config_file=typo, env={})


def test_every_component_section_is_known():
    """Each section a component reads (``load_section(..., "name")`` in the shipped code) is one a file may hold."""
    import re

    from lensdb.core.config import SECTIONS

    repo = Path(__file__).resolve().parents[2]
    used = set()
    for folder in ("core", "catalog", "vectordb", "ingest", "encoder", "classifiers", "services", "api_grpc", "lensdb"):
        for path in (repo / folder).rglob("*.py"):
            used |= set(re.findall(r'load_section\(\s*\w+,\s*[\w.]+,\s*"(\w+)"', path.read_text()))
    assert used and used <= set(SECTIONS), used - set(SECTIONS)


@dataclass(frozen=True)
class Demo:
    n: int = 1
    rate: float = 0.5
    name: str = "x"
    edges: tuple[float, ...] = (1.0, 2.0)
    mode: Literal["a", "b"] = "a"
    path: Path | None = None


def test_sections_are_typed(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[demo]\nn = 3\nrate = 1\nedges = [0, 0.5]\nmode = "b"\npath = "/p"\n')
    s = load_settings(config_file=cfg, env={}, sections=("demo",))
    d = load_section(Demo, s, "demo", name="flag", n=None)
    assert d == Demo(n=3, rate=1.0, name="flag", edges=(0.0, 0.5), mode="b", path=Path("/p"))
    assert isinstance(d.rate, float)
    assert load_section(Demo, None, "demo") == Demo()


@pytest.mark.parametrize(
    ("section", "match"),
    [
        ('[demo]\nn = "three"\n', r"\[demo\] n: expected int"),
        ("[demo]\nn = true\n", r"\[demo\] n: expected int"),
        ('[demo]\nmode = "c"\n', r"\[demo\] mode"),
        ("[demo]\nwidth = 2\n", "unknown key"),
        ('[demo]\nedges = "1,2"\n', "expected a list"),
    ],
)
def test_section_errors_name_the_key(tmp_path, section, match):
    cfg = tmp_path / "c.toml"
    cfg.write_text(section)
    with pytest.raises(ConfigError, match=match):
        load_section(Demo, load_settings(config_file=cfg, env={}, sections=("demo",)), "demo")


def test_survey_root_from_environment_file_and_flag(tmp_path):
    from lensdb.core.config import load_settings

    assert load_settings(env={}, data_dir=str(tmp_path)).survey_root is None
    env = {"LENSDB_SURVEY_ROOT": str(tmp_path / "env")}
    assert load_settings(env=env, data_dir=str(tmp_path)).survey_root == tmp_path / "env"
    (tmp_path / "lensdb.toml").write_text(f'survey_root = "{tmp_path / "file"}"\n')
    assert load_settings(env={}, data_dir=str(tmp_path)).survey_root == tmp_path / "file"
    flagged = load_settings(env=env, data_dir=str(tmp_path), survey_root=str(tmp_path / "flag"))
    assert flagged.survey_root == tmp_path / "flag"
