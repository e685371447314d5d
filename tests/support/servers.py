"""Waiting for a server process the test started to answer HTTP."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path


def wait_until_answering(
    url: str, process: subprocess.Popen[bytes], log: str | Path, timeout_s: float = 60
) -> None:
    """Return once ``url`` answers; raise naming ``log`` if ``process`` exits or time runs out.

    The opener ignores proxy variables: the servers listen on loopback.
    """
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with opener.open(url, timeout=2):
                return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer: see {log}")
        time.sleep(0.2)
