"""Installed rather than cloned: the wheel carries the built-in studies."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


def test_a_wheel_in_a_fresh_venv_lists_and_runs_the_studies_from_any_folder(tmp_path):
    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w",
                            str(wheels), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = wheels.glob("hpo-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; "
                           "print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True).stdout.strip()
    # hpo itself from the wheel; its dependencies (TensorFlow, Optuna...) from this environment,
    # so the test needs no download: a path line in a .pth file (no editable hpo comes with it).
    (tmp_path / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (tmp_path / "deps.pth").rename(f"{site}/zz_deps.pth")
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                                "--no-deps", "--quiet", str(wheel)], capture_output=True,
                               text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    where = subprocess.run([str(python), "-c", "import hpo; print(hpo.__file__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True)
    assert where.stdout.startswith(site), (where.stdout, where.stderr[-1000:])
    helped = subprocess.run([str(env_dir / "bin" / "hpo"), "--help"], cwd=elsewhere, env=env,
                            capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0, helped.stderr[-2000:]
    for command in ("run", "list", "export", "report", "dashboard"):
        assert f"\n  {command} " in helped.stdout
    listed = subprocess.run([str(env_dir / "bin" / "hpo"), "list"], cwd=elsewhere, env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr[-2000:]
    names = [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]
    assert {"mlp", "cnn", "batch_size", "optimizers"} <= set(names)
    ran = subprocess.run([str(env_dir / "bin" / "hpo"), "run", "--study", "mlp", "--dataset",
                          "digits", "--trials", "1", "--epochs", "1"], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert (elsewhere / "runs" / "mlp-digits" / "best.json").is_file()
