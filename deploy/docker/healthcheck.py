"""Container health check: exit 0 when the service's /healthz answers 200 (broker and database up).

Usage: python healthcheck.py intake|classifier|aggregator. The port comes from the same
RUCNET_<SERVICE>_PORT variable the service reads, so overriding it keeps the check right.
Standard library only: the slim image has no curl.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_PORTS = {"intake": 8000, "classifier": 8001, "aggregator": 8002}


def main(argv: list[str]) -> int:
    service = argv[1] if len(argv) > 1 else os.environ.get("RUCNET_SERVICE", "")
    if service not in DEFAULT_PORTS:
        print(f"usage: healthcheck.py {'|'.join(DEFAULT_PORTS)}", file=sys.stderr)
        return 2
    port = os.environ.get(f"RUCNET_{service.upper()}_PORT", str(DEFAULT_PORTS[service]))
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 - a fixed local URL
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
