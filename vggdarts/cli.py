"""Command line: ``python -m vggdarts search --preset NAME --run-dir DIR [--set key=value ...]``."""
from __future__ import annotations

import argparse
import logging
import sys

from .config import PRESETS, ConfigError, make_config, parse_assignments
from .data import DataError
from .rundir import RunDirError
from .training import NonFiniteLossError, setup_logging

USER_ERRORS = (ConfigError, DataError, RunDirError, NonFiniteLossError, FileNotFoundError, ValueError)


def _job_parser(sub, name: str, help_text: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_text)
    p.add_argument("--preset", default="smoke", choices=sorted(PRESETS[name]),
                   help="smoke (seconds), cpu (about 25 min on 2 cores), paper (the study's setup)")
    p.add_argument("--run-dir", required=True, help="output folder; rerun into it to resume")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config field, e.g. --set epochs=3 --set dataset=PATH")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vggdarts", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _job_parser(sub, "search", "DARTS search of shortcut weights alpha")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging()
    try:
        if args.command == "search":
            from .search import search

            config = make_config("search", args.preset, parse_assignments(args.overrides))
            search(config, args.run_dir)
        return 0
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        logging.getLogger("vggdarts").warning("interrupted; rerun the same command to resume")
        return 130
