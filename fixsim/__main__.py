"""``python -m fixsim venue|counterparties --manifest M``: run one piece of the demo's FIX world until a signal."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from fixsim import configs, counterparties, output, venue


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fixsim", description=__doc__)
    parser.add_argument("piece", choices=["venue", "counterparties"])
    parser.add_argument("--manifest", type=Path, required=True, help="manifest.json written by load_demo --fix-dir")
    parser.add_argument("--only", default="", help="counterparties: run only these sessions (comma-separated)")
    parser.add_argument("--period", type=float, default=5.0, help="counterparties: seconds between messages")
    args = parser.parse_args(argv)
    manifest = configs.load_manifest(args.manifest)
    folder = args.manifest.resolve().parent
    output.divert_native_stdout(folder / "log" / f"{args.piece}-quickfix-stdout.log")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if args.piece == "venue":
        venue.run(manifest, folder, stop)
        return 0
    only = {name.strip() for name in args.only.split(",") if name.strip()} or None
    runners = counterparties.run(manifest, folder, stop, only=only, period=args.period)
    # A signal may land on one of QuickFIX's threads; the main thread must wake up to run Python's handler.
    while not stop.wait(0.2):
        pass
    for runner in runners:
        runner.join(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
