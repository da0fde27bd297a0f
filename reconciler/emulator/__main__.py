"""``python -m reconciler.emulator``: run the AKS agentPools emulator until interrupted."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from reconciler.emulator.config import CLUSTER_BUSY_MODES, EmulatorConfig
from reconciler.emulator.emulator import Emulator
from reconciler.emulator.seed import load_seed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; every one has a default."""
    defaults = EmulatorConfig()
    parser = argparse.ArgumentParser(prog="python -m reconciler.emulator",
                                     description="ARM agentPools emulator over HTTPS")
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=8443, help="0 picks a free port")
    parser.add_argument("--seed", help="JSON file of initial pools (ARM list or example file)")
    parser.add_argument("--token", default=defaults.token, help="bearer token to expect")
    parser.add_argument("--subscription", default=defaults.subscription_id)
    parser.add_argument("--resource-group", default=defaults.resource_group)
    parser.add_argument("--cluster", default=defaults.cluster_name)
    parser.add_argument("--location", default=defaults.location)
    parser.add_argument("--page-size", type=int, default=defaults.page_size)
    parser.add_argument("--lro-seconds", type=float, default=defaults.lro_seconds)
    parser.add_argument("--retry-after", type=int, default=defaults.retry_after)
    parser.add_argument("--cluster-busy", choices=CLUSTER_BUSY_MODES,
                        default=defaults.cluster_busy,
                        help="refuse: one agentpool operation at a time per cluster (409);"
                        " cancel: a later operation cancels the ones in flight")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Start, print where to connect, serve until SIGINT/SIGTERM."""
    args = parse_args(argv)
    config = EmulatorConfig(
        subscription_id=args.subscription, resource_group=args.resource_group,
        cluster_name=args.cluster, location=args.location, token=args.token,
        page_size=args.page_size, lro_seconds=args.lro_seconds, retry_after=args.retry_after,
        cluster_busy=args.cluster_busy, host=args.host, port=args.port)
    pools = load_seed(args.seed) if args.seed else None
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with Emulator(config, pools) as emulator:
        # One "key: value" per line, so scripts can read what they need.
        print(f"url: {emulator.url}")
        print(f"ca: {emulator.ca_path}")
        print(f"subscriptionId: {config.subscription_id}")
        print(f"resourceGroup: {config.resource_group}")
        print(f"clusterName: {config.cluster_name}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
