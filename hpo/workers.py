"""``--workers N``: N processes on one study, supervised, with the machine's cores split.

Processes, not threads: TensorFlow and the GIL. Each worker loads the data itself, opens the
shared storage and runs its share of the trials. The supervisor (the command's own process)
shows their progress from the storage, replaces a worker that died once its trial has been
re-queued, and passes Ctrl-C on to the workers so every trial ends recorded.

On a GPU machine every worker turns on memory growth, so several can share one GPU; with
several GPUs, worker i gets GPU ``i % n_gpus`` to itself (``CUDA_VISIBLE_DEVICES``).
"""

from __future__ import annotations

import datetime
import logging
import multiprocessing
import multiprocessing.reduction
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType

import optuna
from optuna.trial import TrialState

from hpo import interrupt, record
from hpo.search import RunSetup
from hpo.spec import reduce_read_only
from hpo.storage import FINISHED, count_finished

logger = logging.getLogger("hpo")

# The setup a worker gets holds the spec, whose tables are read-only mapping views; spawn's
# pickler copies its dispatch table at import, so it needs telling on its own.
multiprocessing.reduction.ForkingPickler.register(MappingProxyType, reduce_read_only)

POLL_SECONDS = 1.0
EXIT_INTERRUPTED = 130


def split(total: int, parts: int) -> list[int]:
    """``total`` trials shared as evenly as possible: split(10, 4) == [3, 3, 2, 2]."""
    return [total // parts + (i < total % parts) for i in range(parts)]


def available_cores() -> int:
    """The cores this process may run on (its affinity mask where the platform has one)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores or 1


def threads_per_worker(n_workers: int, cores: int | None = None) -> int:
    return max(1, (available_cores() if cores is None else cores) // n_workers)


NVIDIA_SMI_TIMEOUT = 10.0
_NVIDIA_SMI_GPU = re.compile(r"^GPU (\d+):", re.MULTILINE)


def visible_gpus() -> list[str]:
    """The GPUs this machine shows its processes, as CUDA device ids, without TensorFlow.

    ``CUDA_VISIBLE_DEVICES`` when it is set (a comma list; ``""`` or ``-1`` means none, and,
    as in CUDA, the list ends at the first empty or negative entry); otherwise the GPUs
    ``nvidia-smi -L`` lists. No ``nvidia-smi``, or one that fails or hangs: no GPUs.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        gpus = []
        for entry in (e.strip() for e in visible.split(",")):
            if not entry or entry.startswith("-"):
                break
            gpus.append(entry)
        return gpus
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        listing = subprocess.run([smi, "-L"], capture_output=True, text=True, check=True,
                                 timeout=NVIDIA_SMI_TIMEOUT).stdout
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError) as e:
        logger.debug("nvidia-smi -L failed (%s); using the CPU", e)
        return []
    return _NVIDIA_SMI_GPU.findall(listing)


def worker_device(index: int, gpus: list[str]) -> str | None:
    """Worker ``index``'s GPU, round robin (one GPU: shared by all), or None for the CPU."""
    return gpus[index % len(gpus)] if gpus else None


def worker_environment(index: int, n_workers: int, gpus: list[str],
                       cores: int) -> dict[str, str]:
    """The environment variables worker ``index`` of ``n_workers`` sets before TensorFlow loads.

    Its share of the ``cores`` as TensorFlow's threads; with any GPU, memory growth (so
    workers sharing a GPU do not each take it all); with two or more, its own GPU in
    ``CUDA_VISIBLE_DEVICES``. With one GPU, ``CUDA_VISIBLE_DEVICES`` stays as it was.
    """
    threads = str(threads_per_worker(n_workers, cores))
    env = {"OMP_NUM_THREADS": threads, "TF_NUM_INTRAOP_THREADS": threads,
           "TF_NUM_INTEROP_THREADS": "1"}
    if gpus:
        env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    if len(gpus) > 1:
        env["CUDA_VISIBLE_DEVICES"] = worker_device(index, gpus)
    return env


def _worker_main(setup: RunSetup, index: int, n_workers: int, quota: int) -> None:
    """A worker process: its own threads, device, data and storage connection; ``quota`` trials."""
    # The supervisor stops workers with SIGINT, even when its own parent made it ignore SIGINT
    # (a background job); SIGTERM stops them the same way.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    from hpo._cli import configure_logging, import_tensorflow_quietly
    from hpo.search import open_run, run_trials

    configure_logging(setup.debug, prefix=f"w{index} ")
    cores = available_cores()
    threads = threads_per_worker(n_workers, cores)
    gpus = visible_gpus()
    # Before TensorFlow starts its thread pools and its devices.
    os.environ.update(worker_environment(index, n_workers, gpus, cores))
    device = worker_device(index, gpus)
    logger.info("worker %d on %s", index, "the CPU" if device is None else f"GPU {device}")
    try:
        with interrupt.watch():  # Ctrl-C while TensorFlow loads is an interrupt too
            import_tensorflow_quietly(setup.debug, threads)
            # The supervisor checked the setup and the builder; the data is loaded here again.
            run = open_run(setup, check=False)
            run_trials(run.spec, run.study, run.data.search, quota, worker=index,
                       builder=run.builder, warm=run.warm, store=setup.checkpoints())
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    quota: int


@dataclass
class Supervisor:
    """Starts the workers, reports their trials, replaces dead ones, forwards Ctrl-C."""

    setup: RunSetup
    study: optuna.Study
    storage: optuna.storages.BaseStorage
    target: int
    n_workers: int
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None]
    workers: dict[int, _Worker] = field(default_factory=dict)
    max_restarts: int = 0

    def run(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._ctx = ctx
        self._next_index = 0
        self._started = datetime.datetime.now()
        self.max_restarts = self.max_restarts or 2 * self.n_workers
        restarts = 0
        seen = {t.number for t in self._finished()}
        for quota in split(self.target - count_finished(self.study), self.n_workers):
            if quota:
                self._start(quota)
        try:
            while self.workers:
                time.sleep(POLL_SECONDS)
                for trial in self._finished():
                    if trial.number not in seen:
                        seen.add(trial.number)
                        self.on_trial(self.study, trial)
                for index, worker in list(self.workers.items()):
                    if worker.process.is_alive():
                        continue
                    worker.process.join()
                    del self.workers[index]
                    code = worker.process.exitcode
                    if code == EXIT_INTERRUPTED:
                        raise KeyboardInterrupt
                    if code != 0:
                        restarts += 1
                        self._replace(index, code, restarts)
        except KeyboardInterrupt:
            self._interrupt()
            raise

    def _replace(self, index: int, code: int | None, restarts: int) -> None:
        """A worker died: its running trial is taken over at once (``hpo.recovery``: failed
        with the reason, queued to resume from its checkpoint), and a new worker runs what
        the dead one left."""
        from hpo.recovery import recover

        logger.warning("worker %d died (exit code %s)", index, code)
        for line in recover(self.storage, self.study):
            logger.info("%s", line)
        needed = self._still_needed()
        if needed > 0:
            if restarts > self.max_restarts:
                raise RuntimeError(f"workers died {restarts} times; giving up (rerun to "
                                   f"resume, --debug for details)")
            logger.info("starting a replacement worker for %d trials", needed)
            self._start(needed)

    def _start(self, quota: int) -> None:
        index = self._next_index
        self._next_index += 1
        process = self._ctx.Process(
            target=_worker_main, args=(self.setup, index, self.n_workers, quota),
            name=f"hpo-worker-{index}",
        )
        process.start()
        logger.info("worker %d started (pid %d) for %d trials", index, process.pid, quota)
        self.workers[index] = _Worker(process, quota)

    def _finished(self) -> list[optuna.trial.FrozenTrial]:
        return self.study.get_trials(deepcopy=False, states=FINISHED)

    def _still_needed(self) -> int:
        """Trials no live worker will run: the dead workers' unstarted share and re-queues."""
        trials = self.study.get_trials(deepcopy=False)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        started = {i: sum(t.user_attrs.get(record.WORKER) == i and t.state != TrialState.WAITING
                          for t in trials) for i in self.workers}
        still_to_start = sum(max(0, w.quota - started[i]) for i, w in self.workers.items())
        return self.target - count_finished(self.study) - running - still_to_start

    def _interrupt(self) -> None:
        for worker in self.workers.values():
            if worker.process.is_alive():
                os.kill(worker.process.pid, signal.SIGINT)
        for worker in self.workers.values():
            worker.process.join(timeout=60)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
        self._fail_orphans()

    def _fail_orphans(self) -> None:
        from hpo.search import process_tag
        from hpo.storage import fail_orphans

        fail_orphans(self.storage, self.study,
                     {process_tag(w.process.pid) for w in self.workers.values()}, self._started)
