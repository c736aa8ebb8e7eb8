"""Command line of the reference enforcement point: keygen, sign, verify, decide (docs/bundle.md, "CLI"), and
``serve``, the FIX-over-TLS gateway (docs/pep.md).

Exit status: 0 on success (``decide`` prints a decision whatever its outcome), 1 when a bundle is refused or an
input is invalid, with the reason on standard error; 2 for usage errors (argparse).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pep.bundle import (
    BundleError,
    BundleVerifier,
    MalformedBundleError,
    bundle_bytes,
    generate_private_key,
    key_id,
    key_ring,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
    sign_payload,
    validate_payload,
)
from pep.engine import DecisionRequest, Engine


class CliError(Exception):
    """An input problem reported as exit status 1."""


def _read(path: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from exc


def _verifier(args: argparse.Namespace) -> BundleVerifier:
    try:
        keys = key_ring(*(load_public_key(_read(p)) for p in args.public_key))
    except ValueError as exc:
        raise CliError(f"bad public key: {exc}") from exc
    return BundleVerifier(keys, environment=args.environment)


def _keygen(args: argparse.Namespace) -> int:
    key = generate_private_key()
    Path(args.private).write_bytes(private_key_pem(key))
    Path(args.private).chmod(0o600)
    Path(args.public).write_bytes(public_key_pem(key.public_key()))
    print(key_id(key.public_key()))
    return 0


def _sign(args: argparse.Namespace) -> int:
    try:
        payload = json.loads(_read(args.payload))
    except ValueError as exc:
        raise CliError(f"payload is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise CliError("payload must be a JSON object")
    validate_payload(payload)
    try:
        key = load_private_key(_read(args.private_key))
    except ValueError as exc:
        raise CliError(f"bad private key: {exc}") from exc
    data = bundle_bytes(sign_payload(payload, key))
    if args.out == "-":
        sys.stdout.buffer.write(data + b"\n")
    else:
        Path(args.out).write_bytes(data)
    return 0


def _verify(args: argparse.Namespace) -> int:
    bundle = _verifier(args).load(_read(args.bundle))
    print(
        f"ok: environment {bundle.environment} version {bundle.version} key {bundle.kid} sha256 {bundle.sha256}",
    )
    return 0


def _decide(args: argparse.Namespace) -> int:
    engine = Engine.from_bundle(_verifier(args).load(_read(args.bundle)))
    try:
        data: Any = json.loads(_read(args.input))
        requests = [DecisionRequest.from_dict(d) for d in (data if isinstance(data, list) else [data])]
    except (ValueError, TypeError, AttributeError) as exc:
        raise CliError(f"bad decision request: {exc}") from exc
    decisions = [engine.decide(r).to_dict() for r in requests]
    print(json.dumps(decisions if isinstance(data, list) else decisions[0], indent=2))
    return 0


def _serve(args: argparse.Namespace) -> int:
    # Imported here: the other commands must not pay for asyncio, ssl and the gateway modules.
    from pep.gateway.config import ConfigError, check_together, load_config

    configs = []
    for path in args.config:
        try:
            configs.append(load_config(path))
        except ConfigError as exc:
            raise CliError(f"{path}: {exc}") from exc
    try:
        check_together(configs)
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    if args.check:
        for path, config in zip(args.config, configs, strict=True):
            print(f"ok: {path}: PEP {config.name}, environment {config.environment}")
        return 0
    from pep.gateway.server import run

    return run(configs)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pep", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    keygen = commands.add_parser("keygen", help="write a new Ed25519 key pair (PEM) and print its key id")
    keygen.add_argument("--private", required=True, help="where to write the private key")
    keygen.add_argument("--public", required=True, help="where to write the public key")
    keygen.set_defaults(run=_keygen)

    sign = commands.add_parser("sign", help="sign an unsigned payload (JSON) into a bundle")
    sign.add_argument("payload", help="payload file, or - for standard input")
    sign.add_argument("--private-key", required=True)
    sign.add_argument("--out", default="-", help="bundle file (default: standard output)")
    sign.set_defaults(run=_sign)

    for name, run, text in (
        ("verify", _verify, "verify a bundle; exit 0 if it would be loaded, 1 with the reason otherwise"),
        ("decide", _decide, "decide a request (or a list of requests) against a verified bundle"),
    ):
        command = commands.add_parser(name, help=text)
        if name == "verify":
            command.add_argument("bundle")
        else:
            command.add_argument("--bundle", required=True)
            command.add_argument("--input", required=True, help="request JSON file, or - for standard input")
        command.add_argument("--public-key", required=True, action="append", help="PEM; repeat for a key ring")
        command.add_argument("--environment", help="refuse bundles compiled for another environment")
        command.set_defaults(run=run)
    serve = commands.add_parser("serve", help="run the FIX-over-TLS enforcement point (docs/pep.md)")
    serve.add_argument(
        "--config",
        required=True,
        action="append",
        help="TOML configuration file (docs/pep.example.toml); repeat to host several enforcement points in one "
        "process, each with its own name, certificate, control port and state, sharing the verified bundles",
    )
    serve.add_argument("--check", action="store_true", help="validate the configuration and exit")
    serve.set_defaults(run=_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except MalformedBundleError as exc:
        print(f"refused: malformed: {exc}", file=sys.stderr)
    except BundleError as exc:
        print(f"refused: {type(exc).__name__}: {exc}", file=sys.stderr)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
