#!/usr/bin/env python
import sys


def main() -> int:
    from ztconsole.cli import main as run

    return run(sys.argv)


if __name__ == "__main__":
    sys.exit(main())
