"""GPU-ready workers: which device each worker gets, the environment it starts TensorFlow with,
finding the GPUs without TensorFlow, and memory growth once TensorFlow runs."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import types

import pytest
from conftest import ROOT

from hpo import workers
from hpo.workers import (
    visible_gpus,
    worker_device,
    worker_environment,
)

THREAD_VARS = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
GPU_VARS = ("CUDA_VISIBLE_DEVICES", "TF_FORCE_GPU_ALLOW_GROWTH")


@pytest.mark.parametrize(("gpus", "expected"), [
    ([], [None, None, None, None]),
    (["0"], ["0", "0", "0", "0"]),
    (["0", "1"], ["0", "1", "0", "1"]),
    (["0", "1", "2"], ["0", "1", "2", "0"]),
    (["5", "7"], ["5", "7", "5", "7"]),  # the ids the parent was given, not 0..n-1
])
def test_four_workers_get_their_devices_round_robin(gpus, expected):
    assert [worker_device(i, gpus) for i in range(4)] == expected


def test_a_replacement_worker_continues_the_round_robin():
    assert worker_device(4, ["0", "1", "2"]) == "1"


def test_on_the_cpu_a_worker_gets_its_share_of_the_cores_and_no_gpu_settings():
    env = worker_environment(2, 4, [], cores=16)
    assert env == {"OMP_NUM_THREADS": "4", "TF_NUM_INTRAOP_THREADS": "4",
                   "TF_NUM_INTEROP_THREADS": "1"}


def test_more_workers_than_cores_still_get_one_thread():
    env = worker_environment(0, 4, [], cores=2)
    assert env["OMP_NUM_THREADS"] == env["TF_NUM_INTRAOP_THREADS"] == "1"


def test_one_gpu_is_shared_with_memory_growth_and_visibility_left_alone():
    for index in range(3):
        env = worker_environment(index, 3, ["0"], cores=12)
        assert env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
        assert "CUDA_VISIBLE_DEVICES" not in env
        assert env["TF_NUM_INTRAOP_THREADS"] == "4"


def test_several_gpus_give_each_worker_its_own():
    envs = [worker_environment(i, 4, ["2", "3"], cores=8) for i in range(4)]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["2", "3", "2", "3"]
    assert all(e["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" for e in envs)
    assert all(e["OMP_NUM_THREADS"] == "2" for e in envs)


@pytest.mark.parametrize(("value", "expected"), [
    ("0", ["0"]),
    ("0,1,3", ["0", "1", "3"]),
    (" 2 , 3 ", ["2", "3"]),
    ("GPU-1234,GPU-5678", ["GPU-1234", "GPU-5678"]),
    ("", []),
    ("-1", []),
    ("0,-1,1", ["0"]),  # CUDA stops at the first invalid entry
])
def test_cuda_visible_devices_decides_when_set(monkeypatch, tmp_path, value, expected):
    fake_nvidia_smi(monkeypatch, tmp_path, "GPU 0: A\nGPU 1: B\nGPU 2: C\nGPU 3: D\n")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", value)
    assert visible_gpus() == expected


def fake_nvidia_smi(monkeypatch, tmp_path, stdout: str = "", before: str = "",
                    after: str = "") -> None:
    """An ``nvidia-smi`` first on PATH: runs ``before``, prints ``stdout``, runs ``after``."""
    script = tmp_path / "nvidia-smi"
    script.write_text(f"#!/bin/sh\n{before}\ncat <<'EOF'\n{stdout}EOF\n{after}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")


def test_without_cuda_visible_devices_nvidia_smi_lists_the_gpus(monkeypatch, tmp_path):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    fake_nvidia_smi(monkeypatch, tmp_path, before='[ "$1" = "-L" ] || exit 3', stdout=(
        "GPU 0: NVIDIA H200 (UUID: GPU-0a1b2c3d-0000-1111-2222-333344445555)\n"
        "GPU 1: NVIDIA H200 (UUID: GPU-0a1b2c3d-0000-1111-2222-333344446666)\n"
        "  MIG 1g.18gb     Device  0: (UUID: MIG-0a1b2c3d-0000-1111-2222-333344447777)\n"
        "GPU 2: NVIDIA H200 (UUID: GPU-0a1b2c3d-0000-1111-2222-333344448888)\n"))
    assert visible_gpus() == ["0", "1", "2"]


def test_nvidia_smi_without_gpus_means_none(monkeypatch, tmp_path):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    fake_nvidia_smi(monkeypatch, tmp_path, stdout="No devices found.\n")
    assert visible_gpus() == []


def test_a_failing_nvidia_smi_means_no_gpus(monkeypatch, tmp_path):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    # It prints a GPU line, then fails: the exit status is what counts.
    fake_nvidia_smi(monkeypatch, tmp_path, stdout="GPU 0: NVIDIA H200 (UUID: GPU-x)\n",
                    after="echo 'NVIDIA-SMI has failed' >&2; exit 9")
    assert visible_gpus() == []


def test_a_hanging_nvidia_smi_means_no_gpus(monkeypatch, tmp_path):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    fake_nvidia_smi(monkeypatch, tmp_path, stdout="GPU 0: X\n", before="exec sleep 30")
    monkeypatch.setattr(workers, "NVIDIA_SMI_TIMEOUT", 0.5)
    assert visible_gpus() == []


def test_no_nvidia_smi_means_no_gpus(monkeypatch, tmp_path):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder
    assert visible_gpus() == []


@pytest.mark.parametrize(("visible", "index", "gpu_env", "line"), [
    ("", 0, {}, "worker 0 on the CPU"),
    ("3", 1, {"TF_FORCE_GPU_ALLOW_GROWTH": "true"}, "worker 1 on GPU 3"),
    ("0,1", 1, {"CUDA_VISIBLE_DEVICES": "1", "TF_FORCE_GPU_ALLOW_GROWTH": "true"},
     "worker 1 on GPU 1"),
])
def test_a_worker_sets_its_environment_before_tensorflow_and_says_its_device(
        monkeypatch, caplog, visible, index, gpu_env, line):
    for name in THREAD_VARS + GPU_VARS:  # restored after the test
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    seen = {}

    def fake_import_tensorflow(debug, threads):
        seen.update({name: os.environ.get(name) for name in THREAD_VARS + GPU_VARS})
        seen["threads"] = threads
        raise KeyboardInterrupt  # stop the worker here: it exits as interrupted

    import hpo._cli

    monkeypatch.setattr(hpo._cli, "configure_logging", lambda debug, prefix="": None)
    monkeypatch.setattr(hpo._cli, "import_tensorflow_quietly", fake_import_tensorflow)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    caplog.set_level(logging.INFO, logger="hpo")
    try:
        with pytest.raises(SystemExit) as exit_:
            workers._worker_main(types.SimpleNamespace(debug=False), index, 2, quota=1)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert exit_.value.code == workers.EXIT_INTERRUPTED
    threads = str(workers.threads_per_worker(2))
    expected = {"OMP_NUM_THREADS": threads, "TF_NUM_INTRAOP_THREADS": threads,
                "TF_NUM_INTEROP_THREADS": "1", "CUDA_VISIBLE_DEVICES": visible,
                "TF_FORCE_GPU_ALLOW_GROWTH": None, "threads": int(threads)}
    assert seen == expected | gpu_env
    assert [r.getMessage() for r in caplog.records if " on " in r.getMessage()] == [line]


def run_python(code: str, env: dict[str, str] | None = None) -> dict:
    """Run ``code`` in a fresh interpreter (TensorFlow starts its devices once per process)."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, env={**os.environ, **(env or {})}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


REPORT_GPUS = """
import json
import tensorflow as tf
gpus = tf.config.list_physical_devices("GPU")
print(json.dumps({"gpus": [g.name for g in gpus],
                  "growth": [tf.config.experimental.get_memory_growth(g) for g in gpus]}))
"""


def test_tensorflow_started_by_hpo_grows_memory_on_every_gpu():
    pytest.importorskip("tensorflow")
    found = run_python("from hpo._cli import import_tensorflow_quietly\n"
                       "import_tensorflow_quietly(False)\n" + REPORT_GPUS)
    if not found["gpus"]:
        pytest.skip("TensorFlow sees no GPU here")
    assert found["growth"] == [True] * len(found["gpus"])


def test_with_several_gpus_a_worker_sees_only_its_own():
    pytest.importorskip("tensorflow")
    gpus = visible_gpus()
    if len(gpus) < 2:
        pytest.skip("fewer than two GPUs here")
    env = worker_environment(1, 2, gpus, cores=2)
    found = run_python("from hpo._cli import import_tensorflow_quietly\n"
                       "import_tensorflow_quietly(False, 1)\n" + REPORT_GPUS, env)
    assert len(found["gpus"]) == 1
    assert found["growth"] == [True]


def test_memory_growth_is_asked_for_every_gpu_even_when_one_has_started():
    from hpo._cli import enable_memory_growth

    asked = []

    def set_memory_growth(gpu, enable):
        asked.append((gpu.name, enable))
        if gpu.name == "GPU:0":
            raise RuntimeError("Physical devices cannot be modified after being initialized")

    gpus = [types.SimpleNamespace(name=f"GPU:{i}") for i in range(3)]
    tf = types.SimpleNamespace(config=types.SimpleNamespace(
        list_physical_devices=lambda kind=None: gpus if kind == "GPU" else [],
        experimental=types.SimpleNamespace(set_memory_growth=set_memory_growth)))
    enable_memory_growth(tf)
    assert asked == [("GPU:0", True), ("GPU:1", True), ("GPU:2", True)]
