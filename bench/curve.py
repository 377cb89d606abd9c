"""The learning curve of one of a study's textbook starts: validation and test after each epoch.

A diagnosis, not a search: it opens the test split after every epoch to show where a model
family's ceiling is, which no search may do. The start's parameters go through hpo's own
builder (``hpo.builders.build``), then a plain ``model.fit`` on the 50 000 search images.

    python bench/curve.py --data-dir ../shared/data --study mlp --start 2 --epochs 30

``--all`` trains on all 60 000 training images (train + validation), as the final retrain
does, and shows test alone; ``--schedule`` overrides the start's learning-rate schedule (a
cosine runs down to 0 at ``--epochs``):

    python bench/curve.py --data-dir ../shared/data --study mlp --start 2 --epochs 12 --all \
        --schedule inverse_time
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
    p.add_argument("--all", action="store_true",
                   help="train on train + validation (the final retrain's data), test only")
    p.add_argument("--schedule", choices=("cosine", "inverse_time"),
                   help="the start's schedule instead of its own, where the study's space "
                   "searches the schedule (inverse_time: the start's decay)")
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
    x_test, y_test = data.test.open()
    x, y, validation = search.x_train, search.y_train, (search.x_val, search.y_val)
    if args.all:  # as the final retrain: scaled by the statistics of its own training data
        x, y = search.train_and_validation()
        _, x, (x_test,) = search.rescaled(x, [x_test])
        validation = None
    config = dict(starts[args.start - 1])
    if args.schedule:
        config["schedule"] = args.schedule
    params = project(config, spec.space, clip=True)
    keras.utils.set_random_seed(args.seed)
    # A cosine start runs its rate down to 0 over this curve's epochs.
    with sampling(spec.space, spec.inherited, run=Run(len(y), args.epochs)):
        model = build(load_builder(spec.model, spec.data.base_dir),
                      optuna.trial.FixedTrial(params), search.info())
    print(f"{args.study} start {args.start}: {params}", flush=True)

    class Curve(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            test = self.model.evaluate(x_test, y_test, batch_size=2048, verbose=0,
                                       return_dict=True)
            shown = (f"validation {logs['val_accuracy']:.4f}  " if validation else "")
            print(f"epoch {epoch + 1:3d}  {shown}test {test['accuracy']:.4f}", flush=True)

    start = time.perf_counter()
    model.fit(x, y, batch_size=int(params["batch_size"]), epochs=args.epochs,
              validation_data=validation, verbose=0, callbacks=[Curve()])
    print(f"{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
