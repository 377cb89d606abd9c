"""``hpo``: one command with subcommands, as users of Optuna, pip and git expect::

    hpo run --study mlp          search, retrain the best, test it once (python -m hpo.run)
    hpo list                     the studies hpo ships and finds
    hpo export --study mlp       the best configurations as files (python -m hpo.export)
    hpo report --study mlp       report.html and its figures (python -m hpo.report)
    hpo dashboard --study mlp    optuna-dashboard on one study (python -m hpo.dashboard)

Each subcommand has its own ``--help``. ``hpo --study mlp`` (the command before subcommands)
still runs a study.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from hpo._cli import EXIT_OK, EXIT_USAGE

# name -> (module whose main() it runs, what it does)
COMMANDS = {
    "run": ("hpo.run", "search a study, retrain the best configuration, test it once"),
    "list": ("hpo.run", "list the studies (studies/ and the ones hpo ships)"),
    "export": ("hpo.export", "write a study's best configurations as JSON or YAML"),
    "report": ("hpo.report", "write a study's report.html and its figures"),
    "dashboard": ("hpo.dashboard", "serve optuna-dashboard on one study"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {what}" for name, (_, what) in COMMANDS.items()]
    return ("usage: hpo COMMAND [options]   (hpo COMMAND --help for its options)\n\n"
            "Hyperparameter search for Keras models on Optuna.\n\ncommands:\n"
            + "\n".join(lines) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage(), end="")
        return EXIT_OK if args else EXIT_USAGE
    if args[0] == "--version":
        from hpo import __version__

        print(f"hpo {__version__}")
        return EXIT_OK
    command, rest = args[0], args[1:]
    if command.startswith("-"):  # `hpo --study mlp`: the command before subcommands
        command, rest = "run", args
    if command not in COMMANDS:
        print(f"hpo: error: unknown command {command!r}; commands: {', '.join(COMMANDS)} "
              f"(see hpo --help)", file=sys.stderr)
        return EXIT_USAGE
    if command == "list":
        rest = ["--list", *rest]
    module = importlib.import_module(COMMANDS[command][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
