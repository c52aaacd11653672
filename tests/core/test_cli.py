"""The lensdb command line: one entry point, explanatory --help, configuration errors as one clear line."""

import subprocess
import sys

import pytest

from lensdb.cli import COMMAND_MODULES, build_parser, main


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


def test_top_level_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in _subcommands():
        assert name in out
    assert "LENSDB" in out or "lensdb-data" in out


def test_every_subcommand_explains_itself(capsys):
    for name, sub in _subcommands().items():
        text = sub.format_help()
        assert len(sub.description or "") > 40, f"'lensdb {name} --help' needs a description"
        assert text.startswith("usage:"), name


def test_public_command_names_are_registered():
    names = set(_subcommands())
    assert {"simulate", "ingest", "db", "labels"} <= names
    assert len(COMMAND_MODULES) == len(set(COMMAND_MODULES))


def test_configuration_error_is_one_clear_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("nonsense = 1\n")
    code = main(["--config", str(bad), "db", "current"])
    assert code == 2
    err = capsys.readouterr().err
    assert "configuration error" in err and "nonsense" in err


def test_console_script_runs():
    exe = [sys.executable, "-m", "lensdb.cli", "--help"]
    out = subprocess.run(exe, capture_output=True, text=True, check=True).stdout
    assert "usage: lensdb" in out
