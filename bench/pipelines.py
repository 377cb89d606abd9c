"""Data as it comes, measured: an epoch through a pipeline against the same epoch on arrays,
and the peak memory of a study on an image folder 10 times larger.

    python bench/pipelines.py --data-dir ../shared/data            # both parts
    python bench/pipelines.py --data-dir ../shared/data --part speed
    python bench/pipelines.py --part memory

speed: MNIST's 60 000 training images, one model (784-128-64-10, Adam, batch 128), trained
through hpo's feeders: arrays in memory (``hpo.fit.Feeder``), a ``tf.data`` pipeline of the
same arrays (unbatched, so hpo batches it) and a folder of 60 000 PNGs with ``cache =
"memory"``. Each runs ``--epochs`` epochs; the figure is the median epoch after the first (the
first traces the graph, and fills the folder's cache). The three are interleaved over
``--repeats`` rounds, so that the machine's drift hits each alike.

memory: ``python -m hpo.run`` on a folder of 2 000 and of 20 000 random RGB 64x64 PNGs
(``cache = "none"``, 2 trials of 2 epochs, one final seed), each in a fresh process; the figure
is the process's peak resident memory (``VmHWM``). Read whole as float32, the 20 000 images
would be 18 000 x 64 x 64 x 3 x 4 bytes = 0.9 GB more.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import ROOT, data_dir, record, table

SPEED_TARGET = 1.1
MEMORY_TARGET_MB = 200


def write_pngs(folder: Path, x: np.ndarray, y: np.ndarray) -> Path:
    """``x[i]`` as ``folder/<class>/<i>.png``."""
    import tensorflow as tf

    for label in np.unique(y):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
    for i, (image, label) in enumerate(zip(x, y)):
        pixels = image if image.ndim == 3 else image[..., None]
        tf.io.write_file(str(folder / str(label) / f"{i}.png"), tf.io.encode_png(pixels))
    return folder


def _model():
    import keras

    from hpo.fit import STEPS_PER_EXECUTION

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=STEPS_PER_EXECUTION)
    return model


class _Timer:
    def __init__(self):
        import keras

        class Callback(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.seconds = []

            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self.start)

        self.callback = Callback()


def epoch_seconds(feeder, epochs: int) -> float:
    """The median epoch after the first, training ``_model`` on ``feeder``."""
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    timer = _Timer()
    _model().fit(feeder.train(128), epochs=epochs, shuffle=False, verbose=0,
                 callbacks=[timer.callback])
    return statistics.median(timer.callback.seconds[1:])


def speed(args: argparse.Namespace) -> str:
    import tensorflow as tf

    from hpo.data import load_npz
    from hpo.fit import Feeder
    from hpo.images import image_pipelines
    from hpo.spec import DataSpec
    from hpo.streams import StreamFeeder

    x, y, _, _ = load_npz(data_dir(args.data_dir) / "mnist.npz")
    pixels = (x[..., None] / 255.0).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_pngs(Path(tmp) / "mnist", x, y)
        spec = DataSpec("images", path=str(folder), image_size=(28, 28), color_mode="grayscale",
                        cache="memory", validation_size=10, test_size=10)
        images = image_pipelines(spec, seed=0)
        n_images = len(images.targets[0])
        feeders = {
            "arrays in memory (hpo.fit.Feeder)": Feeder(pixels, y),
            "tf.data from the arrays, unbatched": StreamFeeder(
                tf.data.Dataset.from_tensor_slices((pixels, y.astype(np.int64))), len(y)),
            f"folder of {n_images} PNGs, cache = \"memory\"": StreamFeeder(images.train,
                                                                          n_images),
        }
        seconds: dict[str, list[float]] = {name: [] for name in feeders}
        for _ in range(args.repeats):
            for name, feeder in feeders.items():
                seconds[name].append(epoch_seconds(feeder, args.epochs))
    base = statistics.median(seconds[next(iter(seconds))])
    rows = []
    for name, values in seconds.items():
        ratio = statistics.median(values) / base
        verdict = "" if name.startswith("arrays") else (
            "met" if ratio <= SPEED_TARGET else f"over {SPEED_TARGET}x")
        rows.append([name, f"{statistics.median(values):.3f}",
                     ", ".join(f"{v:.3f}" for v in values), f"{ratio:.3f}", verdict])
    return table(["feeding", "s/epoch (median)", "each round", "x arrays", "target <= 1.1x"],
                 rows)


MEMORY_STUDY = """
family = "mlp"
seed = 0
final_seeds = 1
enqueue = []

[data]
dataset = "images"
path = "{folder}"
image_size = [64, 64]
cache = "none"

[budget]
trials = 2
max_epochs = 2

[space]
n_layers = 1
units = 64
batch_size = 128
"""

# The study's own peak: VmHWM of its process image. Not ru_maxrss: that one survives exec, so
# a child would report its parent's size at the fork (the parent that wrote the PNGs).
PEAK = ("import runpy, sys; sys.argv = ['hpo.run'] + sys.argv[1:]\n"
        "try:\n    runpy.run_module('hpo.run', run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print('PEAK_MB', int(hwm.split()[1]) / 1024)")


def peak_mb(folder: Path, work: Path) -> tuple[float, float]:
    study = work / f"{folder.name}.toml"
    study.write_text(MEMORY_STUDY.format(folder=folder))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, "--study", str(study), "--out",
                           str(work / "runs" / folder.name)], cwd=work, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
                                          "PATH": "/usr/bin:/bin"})
    if "PEAK_MB" not in done.stdout:
        sys.exit(f"bench: the study on {folder} failed:\n{done.stderr[-3000:]}")
    return float(done.stdout.split("PEAK_MB")[-1]), time.perf_counter() - start


def memory(args: argparse.Namespace) -> str:
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        peaks = {}
        for n in args.sizes:
            x = rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
            folder = write_pngs(work / f"images_{n}", x, np.arange(n) % 10)
            del x
            peaks[n] = peak_mb(folder, work)
        small = peaks[args.sizes[0]][0]
        for n, (mb, seconds) in peaks.items():
            extra = mb - small
            verdict = "" if n == args.sizes[0] else (
                "met" if extra <= MEMORY_TARGET_MB else f"over {MEMORY_TARGET_MB} MB")
            rows.append([f"{n:,} PNGs", f"{mb:.0f}", f"{extra:+.0f}", f"{seconds:.0f}",
                         verdict])
    return table(["folder (RGB 64x64)", "peak RSS MB", f"vs {args.sizes[0]:,}", "study s",
                  "target <= +200 MB"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--part", choices=("speed", "memory", "both"), default="both")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs=2, default=[2_000, 20_000],
                        help="the two folder sizes of the memory part")
    args = parser.parse_args()
    command = "python bench/pipelines.py " + " ".join(sys.argv[1:])
    if args.part in ("speed", "both"):
        record("Pipelines: an epoch through tf.data and a PNG folder vs arrays", command,
               speed(args))
    if args.part in ("memory", "both"):
        record("Pipelines: peak memory of a study on 20 000 vs 2 000 PNGs", command,
               memory(args))


if __name__ == "__main__":
    main()
