"""``python -m app.cli.healthcheck``: exit 0 when this host's service answers
``GET /healthz`` with 200 on ``PORT``, else 1 (the image's ``HEALTHCHECK``).

Standard library only, a 2-second deadline, nothing but the status read: the
check must be cheap, since the container engine runs it every few seconds.
"""

from __future__ import annotations

import os
import sys
import urllib.request

TIMEOUT_SECONDS = 2.0


def check(port: int) -> bool:
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return bool(response.status == 200)
    except OSError as exc:  # refused, timed out, an HTTP error status
        sys.stderr.write(f"healthcheck: {url}: {exc}\n")
        return False


def main() -> None:
    port = os.environ.get("PORT", "8000").strip() or "8000"
    if not port.isdigit():
        sys.exit(f"healthcheck: PORT must be a number, not {port!r}")
    sys.exit(0 if check(int(port)) else 1)


if __name__ == "__main__":
    main()
