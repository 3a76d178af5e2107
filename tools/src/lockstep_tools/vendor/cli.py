"""``lockstep-vendor``: the vendor's side of the release feed (R2).

    lockstep-vendor init REPO_DIR [--expiry-days 365]
    lockstep-vendor package OUT --product P --version V        (a demo .tar.gz)
    lockstep-vendor publish REPO_DIR --product P --version V --package FILE [--notes-url URL]
        [--requires-confirmation-code] [--min-platform-version V] [--expiry-days N]
    lockstep-vendor entitle REPO_DIR --license-key K (--until YYYY-MM-DD | --inactive | --no-end)
        [--expiry-days N]                                        (a site's subscription, R4)
    lockstep-vendor confirmation-response --license-key K --challenge C --product P --version V
                                                                (the response to a U13 challenge)
    lockstep-vendor serve REPO_DIR --port N [--host 127.0.0.1]
    lockstep-vendor root REPO_DIR                               (path of the root a site pins)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from lockstep_shared.versions import InvalidVersion
from lockstep_tools.vendor.confirmation import confirmation_response
from lockstep_tools.vendor.package import make_demo_package
from lockstep_tools.vendor.repository import (
    DEFAULT_EXPIRY_DAYS,
    VendorRepository,
    VendorRepositoryError,
)
from lockstep_tools.vendor.server import FeedServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lockstep-vendor", description="Create, publish to and serve a TUF release feed."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    init = commands.add_parser("init", help="create keys, root metadata and an empty catalogue")
    init.add_argument("repo_dir", type=Path)
    init.add_argument("--expiry-days", type=float, default=DEFAULT_EXPIRY_DAYS)

    package = commands.add_parser("package", help="build a demo package (.tar.gz with VERSION)")
    package.add_argument("out", type=Path, help="file or directory to write")
    package.add_argument("--product", required=True)
    package.add_argument("--version", required=True)

    publish = commands.add_parser("publish", help="publish a release and re-sign the feed")
    publish.add_argument("repo_dir", type=Path)
    publish.add_argument("--product", required=True)
    publish.add_argument("--version", required=True)
    publish.add_argument("--package", required=True, type=Path)
    publish.add_argument("--notes-url")
    publish.add_argument("--requires-confirmation-code", action="store_true")
    publish.add_argument("--min-platform-version")
    publish.add_argument("--expiry-days", type=float, default=DEFAULT_EXPIRY_DAYS)

    entitle = commands.add_parser(
        "entitle", help="publish a licence's update subscription (R4) and re-sign the feed"
    )
    entitle.add_argument("repo_dir", type=Path)
    entitle.add_argument("--license-key", required=True)
    until = entitle.add_mutually_exclusive_group(required=True)
    until.add_argument("--until", type=_day, metavar="YYYY-MM-DD",
                       help="active through this day (UTC); a past day = expired")
    until.add_argument("--inactive", action="store_true", help="no updates for this licence")
    until.add_argument("--no-end", action="store_true", help="active, without an end date")
    entitle.add_argument("--expiry-days", type=float, default=DEFAULT_EXPIRY_DAYS)

    response = commands.add_parser(
        "confirmation-response", help="the response to a site's confirmation challenge (U13)"
    )
    response.add_argument("--license-key", required=True)
    response.add_argument("--challenge", required=True, help="ddddd-ddddd-ddddd as the site shows")
    response.add_argument("--product", required=True)
    response.add_argument("--version", required=True)

    serve = commands.add_parser("serve", help="serve metadata/ and targets/ over HTTP (Range)")
    serve.add_argument("repo_dir", type=Path)
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--host", default="127.0.0.1")

    root = commands.add_parser("root", help="print the path of the root metadata sites pin")
    root.add_argument("repo_dir", type=Path)
    return parser


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        return _run(args)
    except (VendorRepositoryError, InvalidVersion, OSError, ValueError) as exc:
        print(f"lockstep-vendor: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "init":
        repo = VendorRepository.init(args.repo_dir, expiry_days=args.expiry_days)
        print(repo.root_path.resolve())
    elif args.command == "package":
        print(make_demo_package(args.out, args.product, args.version).resolve())
    elif args.command == "publish":
        release = VendorRepository(args.repo_dir).publish(
            product=args.product,
            version=args.version,
            package=args.package,
            notes_url=args.notes_url,
            requires_confirmation_code=args.requires_confirmation_code,
            min_platform_version=args.min_platform_version,
            expiry_days=args.expiry_days,
        )
        print(json.dumps({"product": args.product, **release.model_dump()}))
    elif args.command == "entitle":
        record = VendorRepository(args.repo_dir).entitle(
            args.license_key,
            active=not args.inactive,
            until=args.until,
            expiry_days=args.expiry_days,
        )
        print(record.model_dump_json())
    elif args.command == "confirmation-response":
        print(confirmation_response(
            args.license_key, args.challenge, args.product, args.version
        ))
    elif args.command == "serve":
        VendorRepository(args.repo_dir)  # refuse to serve a folder that is not a feed
        server = FeedServer(args.repo_dir, args.host, args.port)
        print(f"serving {args.repo_dir} at {server.url} (metadata/, targets/)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    elif args.command == "root":
        print(VendorRepository(args.repo_dir).root_path.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
