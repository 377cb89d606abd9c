"""The learning curve of one of a study's textbook starts: validation and test after each epoch.

A diagnosis, not a search: it opens the test split after every epoch to show where a model
family's ceiling is, which no search may do. The start's parameters go through hpo's own
builder (``hpo.builders.build``), then a plain ``model.fit`` on the 50 000 search images.

    python bench/curve.py --data-dir ../shared/data --study mlp --start 2 --epochs 30
"""

from __future__ import annotations

import argparse
import time

from _common import data_dir


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir")
    p.add_argument("--study", default="mlp")
    p.add_argument("--start", type=int, default=1, help="which start, from 1")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)

    import keras
    import optuna

    from hpo.builders import build, load_builder
    from hpo.data import load_dataset
    from hpo.space import STARTS, Run, project, sampling
    from hpo.spec import load_spec

    spec = load_spec(args.study)
    starts = STARTS.get(spec.family, ())
    if not 1 <= args.start <= len(starts):
        p.error(f"--start {args.start}: study {args.study} (family {spec.family}) has "
                f"{len(starts)} textbook start(s); pass --start 1 to {len(starts)}")
    data = load_dataset(spec.data, data_dir(args.data_dir))
    search = data.search
    params = project(starts[args.start - 1], spec.space, clip=True)
    keras.utils.set_random_seed(args.seed)
    # A cosine start runs its rate down to 0 over this curve's epochs.
    with sampling(spec.space, spec.inherited, run=Run(len(search.y_train), args.epochs)):
        model = build(load_builder(spec.model, spec.data.base_dir),
                      optuna.trial.FixedTrial(params), search.info())
    x_test, y_test = data.test.open()

    class Curve(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            test = self.model.evaluate(x_test, y_test, batch_size=2048, verbose=0,
                                       return_dict=True)
            print(f"epoch {epoch + 1:3d}  validation {logs['val_accuracy']:.4f}  "
                  f"test {test['accuracy']:.4f}", flush=True)

    start = time.perf_counter()
    model.fit(search.x_train, search.y_train, batch_size=int(params["batch_size"]),
              epochs=args.epochs, validation_data=(search.x_val, search.y_val), verbose=0,
              callbacks=[Curve()])
    print(f"{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
