"""``lensdb simulate`` from the command line."""

from __future__ import annotations

import json

import pytest

from lensdb.cli import main


def test_help_explains_inputs_outputs_and_defaults(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for expected in ("truth.csv", "survey.json", "images_npix", "default 10000", "default 0.01", "--preview",
                     "[simulate]"):
        assert expected in text, expected


def test_simulate_writes_a_survey_and_a_preview(tmp_path, capsys):
    data = tmp_path / "data"
    preview = tmp_path / "preview.png"
    code = main(["--data-dir", str(data), "simulate", "--n-objects", "24", "--shard-size", "10", "--no-progress",
                 "--dtype", "float16", "--cutout", "128", "--preview", str(preview)])
    assert code == 0
    out = capsys.readouterr().out
    assert "simulated 24 objects" in out and "preview written" in out
    folder = data / "survey"
    assert sorted(p.name for p in folder.glob("*.h5")) == [
        "images_npix128_000000000_000000010.h5", "images_npix128_000000010_000000020.h5",
        "images_npix128_000000020_000000024.h5"]
    manifest = json.loads((folder / "survey.json").read_text())
    assert manifest["config"]["dtype"] == "float16" and manifest["complete"]
    assert preview.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert preview.stat().st_size < 1_000_000
    # Running it again renders nothing new.
    assert main(["--data-dir", str(data), "simulate", "--n-objects", "24", "--shard-size", "10", "--no-progress",
                 "--dtype", "float16", "--cutout", "128"]) == 0
    assert "0 rendered now" in capsys.readouterr().out


def test_config_file_section_is_used(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "lensdb.toml").write_text("[simulate]\nn_objects = 7\nseed = 3\n")
    assert main(["--data-dir", str(data), "simulate", "--no-progress", "--out", str(tmp_path / "o")]) == 0
    manifest = json.loads((tmp_path / "o" / "survey.json").read_text())
    assert manifest["n_objects"] == 7 and manifest["config"]["seed"] == 3


@pytest.mark.parametrize(("args", "message"), [
    (["--cutout", "64"], "cutout must be at least 110"),
    (["--lens-rate", "-0.5"], "lens_rate must lie in [0, 1]"),
    (["--preview-only"], "--preview-only needs --preview"),
])
def test_bad_options_exit_2_with_a_message(tmp_path, capsys, args, message):
    assert main(["--data-dir", str(tmp_path), "simulate", "--no-progress", *args]) == 2
    assert message in capsys.readouterr().err


def test_unknown_dtype_is_rejected_by_the_parser(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--data-dir", str(tmp_path), "simulate", "--dtype", "float64"])
    assert exc.value.code == 2
    assert "invalid choice: 'float64'" in capsys.readouterr().err
