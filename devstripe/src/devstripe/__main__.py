"""`python -m devstripe --port 12111 --webhook URL=whsec_xxx`."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from devstripe.server import EmulatorServer


def _endpoint(value: str) -> tuple[str, str]:
    url, sep, secret = value.rpartition("=")
    if not sep or not url or not secret.startswith("whsec_"):
        raise argparse.ArgumentTypeError("expected URL=whsec_secret")
    return url, secret


def main(argv: list[str] | None = None) -> int:
    """Run the emulator in the foreground until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m devstripe", description=__doc__)
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--public-url", default=None, help="base URL of hosted pages as browsers see it"
    )
    parser.add_argument(
        "--webhook", action="append", type=_endpoint, default=[], metavar="URL=whsec_..."
    )
    parser.add_argument(
        "--no-seed", action="store_true", help="start without the Plus product/prices"
    )
    parser.add_argument("--cancel-behavior", choices=("canceled", "unpaid"), default="canceled")
    parser.add_argument(
        "--state", default=None, metavar="FILE", help="keep objects in FILE across restarts"
    )
    args = parser.parse_args(argv)
    try:
        srv = EmulatorServer(
            args.port,
            host=args.host,
            public_url=args.public_url,
            webhook_endpoints=args.webhook,
            seed=not args.no_seed,
            cancel_behavior=args.cancel_behavior,
            log_requests=True,
            state_path=args.state,
        )
    except RuntimeError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    done = threading.Event()
    # Installed before announcing the URL, so a supervisor's SIGTERM always stops cleanly.
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    srv.start()
    sys.stdout.write(f"devstripe listening on {srv.url} (api base {srv.url}/v1)\n")
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
