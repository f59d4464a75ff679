"""A live `maestro dev` server for the tests.

scripts/test starts one (MAESTRO_TEST_API, MAESTRO_TEST_STATE) on tests/project. Without them the
tests start their own: the binary at $MAESTRO_BIN, or one built with `go build ./cmd/maestro`
from the repository (which takes a while the first time).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from typing import Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.join(HERE, "project")
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


class Server:
    """The API's URL and maestro dev's state folder (where its token is)."""

    def __init__(self) -> None:
        self.url = ""
        self.state = ""
        self._proc: Optional[subprocess.Popen] = None
        self._tmp: Optional[str] = None
        self._log = None

    def start(self) -> None:
        """Uses the server scripts/test started, or starts one."""
        url, state = os.environ.get("MAESTRO_TEST_API"), os.environ.get("MAESTRO_TEST_STATE")
        if url and state:
            self.url, self.state = url.rstrip("/"), state
            return
        self._tmp = tempfile.mkdtemp(prefix="maestro-pyclient-")
        binary = os.environ.get("MAESTRO_BIN")
        if not binary:
            binary = os.path.join(self._tmp, "maestro")
            subprocess.run(["go", "build", "-o", binary, "./cmd/maestro"], cwd=REPO, check=True)
        host, port = free_port()
        self.url = f"http://{host}:{port}"
        self.state = os.path.join(self._tmp, "state")
        self._log = open(os.path.join(self._tmp, "dev.log"), "wb")
        self._proc = subprocess.Popen([binary, "dev", PROJECT, "--state", self.state, "--addr", f"{host}:{port}",
                                       "--log-format", "json"], stdout=self._log, stderr=subprocess.STDOUT)
        wait_healthy(self.url, self._proc)

    def stop(self) -> None:
        """Stops the server this process started, if any."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._log is not None:
            self._log.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)


def free_port() -> Tuple[str, int]:
    """A loopback port nobody listens on (free when asked; the server takes it right after)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return "127.0.0.1", s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Waits for GET /healthz to answer 200, or fails if the server exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"maestro dev exited with {proc.returncode} before answering {url}/healthz")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"maestro dev did not answer {url}/healthz within {timeout:g} s")
