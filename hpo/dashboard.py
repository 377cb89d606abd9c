"""``python -m hpo.dashboard --study NAME``: serve a stored study in optuna-dashboard.

The storage and the study are checked first (a typo is a one-line error listing the studies
there); then the study's page is printed and optuna-dashboard serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence

from hpo._cli import EXIT_OK, main_of, stored_study_parser
from hpo.errors import HpoError
from hpo.storage import (
    check_exists,
    check_url,
    find_study_id,
    mask,
    open_storage,
)

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8080


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"expected a port number 1..65535, got {text!r}")
    return value


def command(study_name: str, url: str) -> str:
    """The command that opens ``study_name`` in the dashboard, with any password masked."""
    return (f"python -m hpo.dashboard --study {shlex.quote(study_name)} "
            f"--storage {shlex.quote(mask(url))}")


def study_url(host: str, port: int, study_id: int) -> str:
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"http://{host}:{port}/dashboard/studies/{study_id}"


def build_parser() -> argparse.ArgumentParser:
    p = stored_study_parser("hpo.dashboard", "Open a stored study in optuna-dashboard: "
               "every trial with its parameters, learning curve and user attributes.")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default: {DEFAULT_HOST}, this machine only)")
    p.add_argument("--port", type=port_number, default=DEFAULT_PORT,
                   help=f"port to listen on (default: {DEFAULT_PORT})")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return main_of("hpo.dashboard", build_parser(), _serve, argv)


def _serve(args: argparse.Namespace) -> int:
    url = check_url(args.storage)
    check_exists(url)
    storage = open_storage(url)
    study_id = find_study_id(storage, url, args.study)

    from optuna_dashboard import run_server

    print(f"optuna-dashboard for study '{args.study}' in {mask(url)}: "
          f"{study_url(args.host, args.port, study_id)} (Ctrl-C stops it)", flush=True)
    try:
        run_server(storage, host=args.host, port=args.port)
    except OSError as e:  # the port is taken, or the address is not this machine's
        raise HpoError(f"cannot serve on {args.host}:{args.port}: {e.strerror or e}; pick "
                       f"another --port (or --host)") from None
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
