"""The `signpost` command: run a service, the whole system, a routing explanation, or import
boundaries into a bundle."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from signpost.runtime.settings import DEMO_BUNDLE, Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="signpost", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    dev = sub.add_parser("dev", help="run the whole system on an embedded broker with demo data")
    dev.add_argument("--port", type=int, default=8080, help="where intake listens")
    dev.add_argument("--outbox", type=Path, help="write each email received to DIR/<ref>.eml")
    dev.add_argument("--bundle", type=Path, default=DEMO_BUNDLE, help="deployment bundle")
    dev.set_defaults(handler=_dev)

    for name in ("intake", "router", "notifier"):
        service = sub.add_parser(name, help=f"run the {name} service (settings from SIGNPOST_*)")
        service.set_defaults(handler=_service, service=name)

    mail = sub.add_parser("mailcatcher", help="a local SMTP server that keeps what it receives")
    mail.add_argument("--port", type=int, default=8025)
    mail.add_argument("--outbox", type=Path)
    mail.set_defaults(handler=_mailcatcher)

    route = sub.add_parser("route", help="routing tools").add_subparsers(required=True)
    explain = route.add_parser("explain", help="print the routing decision as JSON, no broker")
    explain.add_argument("--bundle", type=Path, default=DEMO_BUNDLE)
    explain.add_argument("--category", required=True)
    explain.add_argument("--lat", type=float, required=True)
    explain.add_argument("--lon", type=float, required=True)
    explain.add_argument("--answer", action="append", default=[], metavar="ID=VALUE")
    explain.add_argument("--uprn")
    explain.set_defaults(handler=_explain)
    replay = route.add_parser("replay", help="re-decide reports routed since a time with the "
                                             "current bundle; publish owner changes")
    replay.add_argument("--since", required=True, metavar="TIMESTAMP",
                        help="ISO 8601, e.g. 2026-11-01T09:00:00Z (no zone: UTC)")
    replay.add_argument("--bundle", type=Path, help="bundle directory (SIGNPOST_BUNDLE_DIR)")
    replay.add_argument("--dry-run", action="store_true", help="print changes, publish nothing")
    replay.set_defaults(handler=_replay)

    bundle = sub.add_parser("bundle", help="deployment bundle tools").add_subparsers(required=True)
    ons = bundle.add_parser("import-ons", help="build a bundle from ONS boundary GeoJSON")
    ons.add_argument("--parishes", type=Path, required=True, help="civil parishes (PARyyCD)")
    ons.add_argument("--districts", type=Path, required=True, help="local authorities (LADyyCD)")
    ons.add_argument("--counties", type=Path, help="counties (CTYyyCD), for two-tier areas")
    ons.add_argument("--out", type=Path, required=True, help="bundle directory to write")
    ons.add_argument("--name", help="bundle name (default: from the district names)")
    ons.add_argument("--force", action="store_true", help="overwrite files in a non-empty --out")
    ons.set_defaults(handler=_import_ons)

    schemas = sub.add_parser("schemas", help="event contracts").add_subparsers(required=True)
    export = schemas.add_parser("export", help="write JSON Schema files for every event, "
                                               "and intake's OpenAPI document")
    export.add_argument("--out", type=Path, default=None)
    export.add_argument("--check", action="store_true", help="fail if the files are out of date")
    export.set_defaults(handler=_export)

    bench = sub.add_parser("bench", help="measure each stage against the broker's own limit")
    bench.add_argument("--smoke", action="store_true", help="a tiny load, seconds (for CI)")
    bench.add_argument("--json", action="store_true", help="print the results as JSON")
    bench.add_argument("--rate", type=float, help="end-to-end offered reports/s (200)")
    bench.add_argument("--duration", type=float, help="end-to-end seconds (60)")
    bench.add_argument("--records", type=int, help="router preload and baseline records")
    bench.set_defaults(handler=_bench)
    return parser


def _service(args: argparse.Namespace) -> int:
    settings = Settings()
    if args.service == "intake":
        from services.intake.main import run as run_intake

        run_intake(settings)
    elif args.service == "router":
        from services.router.main import run as run_router

        run_router(settings)
    else:
        from services.notifier.main import run as run_notifier

        run_notifier(settings)
    return 0


def _dev(args: argparse.Namespace) -> int:
    from signpost.dev import run_dev

    return run_dev(port=args.port, outbox=args.outbox, bundle=args.bundle)


def _mailcatcher(args: argparse.Namespace) -> int:
    from signpost.mailcatcher import run_mailcatcher

    run_mailcatcher(args.port, args.outbox)
    return 0


def _explain(args: argparse.Namespace) -> int:
    from services.router.explain import InvalidInput, explain

    answers = dict(a.split("=", 1) for a in args.answer if "=" in a)
    bad = [a for a in args.answer if "=" not in a]
    if bad:
        print(f"signpost: --answer takes ID=VALUE, got {bad[0]!r}", file=sys.stderr)
        return 2
    try:
        result, code = explain(args.bundle, args.category, args.lat, args.lon, answers,
                               args.uprn)
    except InvalidInput as exc:
        print(f"signpost: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return code


def _replay(args: argparse.Namespace) -> int:
    import asyncio
    from datetime import UTC, datetime

    from services.router.replay import replay
    from services.router.router import Router
    from signpost.bundle import BundleError, load_bundle

    try:
        since = datetime.fromisoformat(args.since)
    except ValueError:
        print(f"signpost: --since takes an ISO 8601 time, got {args.since!r}", file=sys.stderr)
        return 2
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    settings = Settings()
    try:
        router = Router(load_bundle(args.bundle or settings.bundle_dir))
    except BundleError as exc:
        print("signpost: invalid bundle:\n  " + "\n  ".join(exc.problems), file=sys.stderr)
        return 2
    summary = asyncio.run(replay(settings, router, since, dry_run=args.dry_run))
    print(f"{'dry run: ' if args.dry_run else ''}scanned {summary.scanned} records, "
          f"{summary.reports} reports: {summary.unchanged} unchanged, {summary.changed} changed, "
          f"{summary.errors} errors")
    return 1 if summary.errors else 0


def _import_ons(args: argparse.Namespace) -> int:
    from signpost.bundle import BundleError
    from signpost.bundle.ons import OnsImportError, import_ons

    try:
        summary = import_ons(args.parishes, args.districts, args.counties, args.out, args.name,
                             force=args.force)
    except (OnsImportError, BundleError) as exc:
        print(f"signpost: {exc}", file=sys.stderr)
        return 2
    tiers = ", ".join(f"{count} {tier}" for tier, count in summary.organisations.items())
    print(f"bundle {summary.out}: {tiers} organisations, {summary.rules} rules")
    for warning in summary.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print("next: replace the placeholder clerks in organisations.yaml")
    return 0


def _export(args: argparse.Namespace) -> int:
    from schemas.export import export_schemas
    from services.intake.openapi import OPENAPI_FILE, export_openapi

    stale = export_schemas(args.out, check=args.check)
    if export_openapi(check=args.check):  # intake's HTTP contract, beside the event contracts
        stale = [*stale, OPENAPI_FILE]
    for path in stale:
        print(f"{'out of date' if args.check else 'wrote'}: {path}")
    if args.check and stale:
        print("run `signpost schemas export` and commit the result", file=sys.stderr)
        return 1
    return 0


def _bench(args: argparse.Namespace) -> int:
    from bench.run import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
