"""Fixtures: a `wxrefund-sim` process per test, its client configuration, and the
library's log records."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path
from typing import Callable, Dict, Iterator, List

import pytest


def _simulator() -> Path:
    """WXREFUND_SIM, or the repository's target/debug/wxrefund-sim (these tests live in
    bindings/python/tests); scripts/test-package-python.sh runs a copy of them elsewhere."""
    if os.environ.get("WXREFUND_SIM"):
        return Path(os.environ["WXREFUND_SIM"])
    here = Path(__file__).resolve().parents
    root = here[3] if len(here) > 3 else here[0]  # tests, python, bindings, the root
    return root / "target" / "debug" / "wxrefund-sim"


SIM = _simulator()


class Sim:
    """A running simulator and the client configuration it printed."""

    def __init__(self, process: subprocess.Popen, config: Dict[str, object]) -> None:
        self.process = process
        self.config = config
        self.base_url = str(config["base_url"])


@pytest.fixture
def start_sim(tmp_path: Path) -> Iterator[Callable[..., Sim]]:
    """`start_sim("global", "--mode", "institution")` starts a simulator (settling refunds
    after 200 ms) and returns it; every simulator is stopped after the test."""
    if not SIM.exists():
        pytest.fail(f"{SIM} is missing: run `cargo build -p wxrefund-sim` first")
    started: List[subprocess.Popen] = []

    def start(family: str = "domestic", *extra: str) -> Sim:
        config_path = tmp_path / f"sim-{len(started)}.json"
        process = subprocess.Popen(
            [str(SIM), "--family", family, "--settle-ms", "200",
             "--config-out", str(config_path), "--exit-on-stdin-eof", *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        started.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()  # the ready line, printed once the file is written
        if not line:
            raise RuntimeError(f"wxrefund-sim exited with {process.wait()}")
        return Sim(process, json.loads(config_path.read_text()))

    yield start
    for process in started:
        assert process.stdin is not None
        process.stdin.close()  # --exit-on-stdin-eof
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


class Capture(logging.Handler):
    """Keeps every record it is handed."""

    def __init__(self) -> None:
        super().__init__(level=1)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[List[logging.LogRecord]]:
    """Every record of logging.getLogger("wxrefund") at level 1, during the test."""
    logger = logging.getLogger("wxrefund")
    capture = Capture()
    level = logger.level
    logger.setLevel(1)
    logger.addHandler(capture)
    try:
        yield capture.records
    finally:
        logger.removeHandler(capture)
        logger.setLevel(level)
