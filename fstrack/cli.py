"""The ``fstrack`` command: a thin shell over the library."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from .errors import FstrackError
from .fsck import fsck
from .store import Store, open_store

Command = Callable[[argparse.Namespace], int]


def _storage_options(pairs: Sequence[str]) -> dict:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise FstrackError(f"storage option {pair!r} must look like KEY=VALUE")
        options[key] = json.loads(value) if value[:1] in "[{" or value in ("true", "false") else value
    return options


def _open(args: argparse.Namespace, *, create: bool = False) -> Store:
    return open_store(args.url, create=create, **_storage_options(args.option))


def cmd_init(args: argparse.Namespace) -> int:
    store = _open(args, create=True)
    _emit(args, {"url": store.url, "backend": store.backend.name}, f"fstrack store ready at {store.url}")
    return 0


def cmd_fsck(args: argparse.Namespace) -> int:
    report = fsck(_open(args))
    summary = {"ok": report.ok, "objects": report.objects, "refs": report.refs,
               "errors": report.errors, "warnings": report.warnings}
    lines = [*(f"error: {e}" for e in report.errors), *(f"warning: {w}" for w in report.warnings),
             f"{'ok' if report.ok else 'CORRUPT'}: {report.objects} objects, {report.refs} ref entries checked, "
             f"{len(report.errors)} errors"]
    _emit(args, summary, "\n".join(lines))
    return 0 if report.ok else 1


def _emit(args: argparse.Namespace, data: dict, text: str) -> None:
    print(json.dumps(data, indent=2) if args.json else text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fstrack", description="Serverless experiment tracking on any fsspec URL.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Command, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("url", help="store URL or path (e.g. ./runs, s3://bucket/team, memory://x)")
        sub.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                         help="fsspec storage option, repeatable (e.g. -o endpoint_url=http://...)")
        sub.add_argument("--json", action="store_true", help="print machine-readable JSON")
        sub.set_defaults(handler=handler)
        return sub

    add("init", cmd_init, "create a store (any command creates one on first use too)")
    add("fsck", cmd_fsck, "verify every object's hash and every ref; exits 1 on corruption")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except FstrackError as exc:
        if args.debug:
            raise
        print(f"fstrack: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
