"""One ``hpo`` command with subcommands: run, list, export, report, dashboard."""

from __future__ import annotations

from conftest import run_hpo

from hpo.cli import COMMANDS


def test_hpo_help_lists_every_subcommand(tmp_path):
    result = run_hpo(["--help"], tmp_path, module="hpo")
    assert result.returncode == 0, result.stderr
    for command in ("run", "list", "export", "report", "dashboard"):
        assert f"\n  {command} " in result.stdout and command in COMMANDS
    alone = run_hpo([], tmp_path, module="hpo")
    assert alone.returncode == 2 and "commands:" in alone.stdout


def test_each_subcommand_has_its_own_help(tmp_path):
    for command, option in (("run", "--workers"), ("export", "--top"), ("report", "--out"),
                            ("dashboard", "--port")):
        result = run_hpo([command, "--help"], tmp_path, module="hpo")
        assert result.returncode == 0 and option in result.stdout, (command, result.stderr)


def test_run_and_list_work_and_the_old_form_still_runs(tmp_path, study_file):
    listed = run_hpo(["list"], tmp_path, module="hpo")
    assert listed.returncode == 0 and "mlp" in listed.stdout.split()
    ran = run_hpo(["run", "--study", str(study_file), "--trials", "1", "--no-final"], tmp_path,
                  module="hpo")
    assert ran.returncode == 0, ran.stderr[-2000:]
    old = run_hpo(["--study", str(study_file), "--trials", "2", "--no-final"], tmp_path,
                  module="hpo")
    assert old.returncode == 0 and "running 1 trials (1 already stored)" in old.stdout


def test_an_unknown_subcommand_is_a_one_line_error(tmp_path):
    result = run_hpo(["serve"], tmp_path, module="hpo")
    assert result.returncode == 2
    assert result.stderr.strip() == ("hpo: error: unknown command 'serve'; commands: run, list, "
                                     "export, report, dashboard (see hpo --help)")
