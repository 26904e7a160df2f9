"""`acrlib`: a thin command line over the library. Each command parses arguments and calls one function."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _emulator(args: argparse.Namespace) -> int:
    from acrlib.emulator import Emulator

    with Emulator(scale=args.scale, seed=args.seed, latency_ms=args.latency_ms, throttle=args.throttle) as emu:
        connection = emu.write_connection_file(Path(args.connection_file).resolve())
        print(f"acrlib emulator ({args.scale}, seed {args.seed}) is serving; Ctrl-C stops it.")
        print(f"  Resource Graph / ARM : {emu.arm_endpoint}")
        print(f"  CA certificate       : {emu.ca_path}")
        for name, endpoint in emu.registries.items():
            print(f"  registry {name:<22}: {endpoint}")
        print(f"  connection file      : {connection}")
        print("  use from Python      : acrlib.collect(**acrlib.emulator.attach(PATH).connection())")
        sys.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping")
        finally:
            connection.unlink(missing_ok=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acrlib", description="Every repository, manifest and tag of every "
                                     "Azure Container Registry in a tenant, as polars tables and reports.")
    commands = parser.add_subparsers(dest="command", required=True)

    emu = commands.add_parser("emulator", help="serve the local HTTPS emulator of ACR and Resource Graph")
    emu.add_argument("--scale", default="demo", help="tenant preset: tiny, demo, large, fleet (default demo)")
    emu.add_argument("--seed", type=int, default=7)
    emu.add_argument("--latency-ms", type=float, default=0, help="latency added to every request")
    emu.add_argument("--throttle", action="store_true", help="throttle ReadOps at each SKU's rate")
    emu.add_argument("--connection-file", default="acrlib-emulator.json",
                     help="where to write the connection file other processes attach with")
    emu.set_defaults(func=_emulator)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as e:  # bad input: one clear line, no traceback
        print(f"acrlib {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
