"""How long a revoked API key keeps working against a running service.

    GRAPHRAG_DATA_DIR=... python benchmarks/revocation.py --url http://127.0.0.1:8000 --trials 5

Each trial creates a read key in the service's database (settings from `GRAPHRAG_*`, as the CLI
reads them), uses it once (so the service has just verified and cached it: the worst moment to
revoke), revokes it, then sends a request every `--every-s` seconds until the answer is 401.
Prints the seconds from the revocation's commit to the first 401, per trial and the largest.
It never asserts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, run as a script
from api.keys import Scope, create_key, revoke_key
from graphrag.config import get_settings
from graphrag.launch import open_database


def trial(client: httpx.Client, url: str, every_s: float, limit_s: float) -> float | None:
    with open_database(get_settings()) as db:
        key, key_id = create_key(db, Scope.read, "revocation-benchmark")
        first = client.get(f"{url}/v1/documents", params={"limit": 1}, headers={"X-API-Key": key})
        if first.status_code != 200:
            raise SystemExit(f"a fresh key got {first.status_code}: {first.text[:200]}")
        revoke_key(db, key_id)
    revoked = time.monotonic()
    while time.monotonic() - revoked < limit_s:
        if client.get(f"{url}/v1/documents", params={"limit": 1}, headers={"X-API-Key": key}).status_code == 401:
            return round(time.monotonic() - revoked, 3)
        time.sleep(every_s)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--every-s", type=float, default=0.02, help="seconds between polls")
    parser.add_argument("--limit-s", type=float, default=60.0, help="give up a trial after this long")
    args = parser.parse_args()
    with httpx.Client(timeout=10) as client:
        seconds = [trial(client, args.url.rstrip("/"), args.every_s, args.limit_s) for _ in range(args.trials)]
    done = [s for s in seconds if s is not None]
    print(json.dumps({"url": args.url, "trials": seconds, "max_s": max(done) if done else None,
                      "never_refused": len(seconds) - len(done)}, indent=2))


if __name__ == "__main__":
    main()
