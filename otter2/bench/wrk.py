"""
Debian's ``wrk``, the HTTP load generator the API benchmark uses: a separate
process, not Python, so it shares neither the daemon's interpreter nor its
event loop. Finding it (installing it with apt-get when missing, if allowed),
running it with a Lua script that cycles through paths and reports the
summary as one JSON line, and reading that line.

test-case-name: tests.bench.test_wrk
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence

from attrs import frozen

MARK = "OTTER2_WRK "

_SCRIPT = """
local paths = {%(paths)s}
local method = "%(method)s"
local counter = 0
local headers = {["Content-Type"] = "application/json"}

request = function()
  counter = counter + 1
  return wrk.format(method, paths[((counter - 1) %% #paths) + 1], headers, %(body)s)
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, ' ..
    '"write": %%d, "status": %%d, "timeout": %%d, "p50_us": %%d, "p99_us": %%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@frozen
class WrkResult:
    """What one run of wrk measured."""

    requests: int
    seconds: float
    socket_errors: int  # connect, read, write and timeout errors
    bad_status: int  # answers not 2xx or 3xx
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        """Answers per second."""
        return self.requests / self.seconds if self.seconds else 0.0


def find_wrk(install: bool) -> tuple[str | None, str]:
    """wrk's path, or None and why not; with ``install``, apt-get installs it
    when missing (as root, or through sudo when there is one)."""
    found = shutil.which("wrk")
    if found or not install:
        return found, "" if found else "wrk is not installed"
    apt = shutil.which("apt-get")
    if apt is None:
        return None, "wrk is not installed and there is no apt-get"
    prefix: list[str] = []
    if os.geteuid() != 0:
        sudo = shutil.which("sudo")
        if sudo is None:
            return None, "wrk is not installed; apt-get needs root and there is no sudo"
        prefix = [sudo, "-n"]
    result = subprocess.run([*prefix, apt, "install", "-y", "wrk"], capture_output=True,
                            text=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    found = shutil.which("wrk")
    if found is None:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"wrk could not be installed ({last})"
    return found, ""


def lua_script(method: str, paths: Sequence[str], body: str = "") -> str:
    """A wrk script sending ``method`` to each of ``paths`` in turn (per wrk thread)
    and writing the summary as one JSON line marked with `MARK`."""
    quoted = ", ".join(json.dumps(p) for p in paths)
    return _SCRIPT % {"paths": quoted, "method": method, "body": json.dumps(body),
                      "mark": MARK}


def parse_output(output: str) -> WrkResult:
    """The result in wrk's output, from the line the script writes."""
    line = next((line for line in output.splitlines() if line.startswith(MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk wrote no summary: {output[-500:]!r}")
    found = json.loads(line[len(MARK):])
    return WrkResult(
        requests=found["requests"], seconds=found["duration_us"] / 1e6,
        socket_errors=found["connect"] + found["read"] + found["write"] + found["timeout"],
        bad_status=found["status"], p50_ms=found["p50_us"] / 1000,
        p99_ms=found["p99_us"] / 1000)


def run_wrk(wrk: str, root: str, method: str, paths: Sequence[str], seconds: float,
            threads: int = 2, connections: int = 50) -> WrkResult:
    """``wrk -t<threads> -c<connections> -d<seconds>`` against ``root`` sending
    ``method`` to ``paths`` in turn."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua_script(method, paths))
    try:
        result = subprocess.run(
            [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
             "--timeout", "10s", "-s", script.name, root],
            capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.unlink(script.name)
    return parse_output(result.stdout + result.stderr)
