"""sloserve sweep SPEC --out DIR, --summary DIR, and the exit codes of a resume and of failures."""
from __future__ import annotations

from sloserve.cli import main


def test_sweep_runs_resumes_summarises_and_refuses_a_changed_spec(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text("study: echo\ngrid:\n  seed: {range: [3]}\n")
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--quiet"]) == 0
    assert "3 cases run, 0 already done, 0 failed" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--out", str(out), "--quiet"]) == 0
    assert "0 cases run, 3 already done" in capsys.readouterr().err
    assert main(["sweep", "--summary", str(out)]) == 0
    assert "echo: 3 cases" in capsys.readouterr().out
    spec.write_text("study: echo\ngrid:\n  seed: {range: [4]}\n")
    assert main(["sweep", str(spec), "--out", str(out), "--quiet"]) == 2
    assert "option grid.seed.range: was [3]" in capsys.readouterr().err
    spec.write_text("study: echo\nbase: {params: {fail: true}}\ngrid:\n  seed: [1]\n")
    assert main(["sweep", str(spec), "--out", str(tmp_path / "bad"), "--quiet"]) == 1
    assert "1 failed cases, e.g. RuntimeError" in capsys.readouterr().out
    assert main(["sweep", str(spec), "--out", str(tmp_path / "x"), "--executor", "nope"]) == 2


def test_sweep_checks_its_flags_and_paths_before_any_case_runs(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text("study: echo\ngrid:\n  seed: [1]\n")
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "0"]) == 2
    assert "--workers: must be >= 1" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "missing.yaml"), "--out", str(out)]) == 2
    assert "missing.yaml" in capsys.readouterr().err and not out.exists()
    assert main(["sweep", str(spec), "--out", str(tmp_path / "no" / "such" / "dir")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["sweep", "--summary", str(tmp_path / "nowhere")]) == 2
    assert "no such sweep directory" in capsys.readouterr().err
