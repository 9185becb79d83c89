"""Test helpers: run the offline simulator ``wxrefund-sim`` and drive its control API.

::

    from wxrefund.testing import Simulator
    import wxrefund

    with Simulator("domestic", settle_ms=200) as sim:
        sim.inject("SYSTEM_ERROR")
        client = wxrefund.Client(sim.config)
        client.create_refund({...})        # succeeds: the library resends
        print(sim.requests())              # fault:SYSTEM_ERROR, then ok

Only the standard library is used (``subprocess`` and ``urllib``). The simulator binary is
found through the ``binary`` argument, else the ``WXREFUND_SIM`` environment variable, else
the copy shipped in the wheel (``wxrefund/_bin/wxrefund-sim``), else ``wxrefund-sim`` on
``PATH``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

__all__ = ["Simulator", "SimulatorError", "find_simulator"]

_READY_PREFIX = "wxrefund-sim ready on "


class SimulatorError(Exception):
    """The simulator could not be started, or its control API refused a request.

    ``message`` is the simulator's error text, ``field`` the field it is about (or None),
    ``status`` the HTTP status (None when the error is not an API answer).
    """

    def __init__(self, message: str, field: Optional[str] = None,
                 status: Optional[int] = None) -> None:
        """Stores the message, the field at fault and the HTTP status."""
        super().__init__(message if field is None else f"{message} (field: {field})")
        self.message = message
        self.field = field
        self.status = status


def find_simulator(binary: Union[str, "os.PathLike[str]", None] = None) -> Path:
    """The simulator executable: ``binary``, else ``$WXREFUND_SIM``, else the copy shipped
    in this package (``wxrefund/_bin/wxrefund-sim``), else ``wxrefund-sim`` on PATH.

    Raises SimulatorError naming the four places when none has it.
    """
    if binary is not None:
        path = Path(binary)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise SimulatorError(f"the simulator binary {path} is not an executable file")
        return path
    env = os.environ.get("WXREFUND_SIM")
    if env:
        path = Path(env)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise SimulatorError(f"WXREFUND_SIM={env} is not an executable file")
        return path
    shipped = Path(__file__).resolve().parent / "_bin" / "wxrefund-sim"
    if shipped.is_file() and os.access(shipped, os.X_OK):
        return shipped
    on_path = shutil.which("wxrefund-sim")
    if on_path:
        return Path(on_path)
    raise SimulatorError(
        "wxrefund-sim not found: pass Simulator(binary=PATH), set WXREFUND_SIM, install a "
        f"wheel that ships it ({shipped}), or put wxrefund-sim on PATH "
        "(cargo build -p wxrefund-sim builds it)"
    )


class Simulator:
    """A ``wxrefund-sim`` process for one test, as a context manager.

    ``family`` (domestic, global, wecom) and ``mode`` (direct, institution; Global only)
    choose the client configuration it hands out, ``verification`` (platform, pubkey, both)
    how it signs, ``settle_ms`` how long a refund stays PROCESSING, ``orders`` seeds orders
    (a dict in the format of an ``--orders`` file: ``{"domestic": [...], "global": [...],
    "wecom": [...]}``), ``binary`` the executable (see find_simulator) and ``extra_args``
    more command-line options. ``startup_timeout`` is how long to wait for the ready line.

    Inside the ``with`` block, ``config`` is the client configuration (a dict for
    ``wxrefund.Client``) and ``base_url`` the simulator's ``http://127.0.0.1:PORT``. On exit
    the process gets SIGTERM, then SIGKILL after ``stop_timeout`` seconds, and the temporary
    files are removed.
    """

    def __init__(
        self,
        family: str = "domestic",
        mode: Optional[str] = None,
        verification: Optional[str] = None,
        settle_ms: Optional[int] = None,
        orders: Optional[Mapping[str, Any]] = None,
        binary: Union[str, "os.PathLike[str]", None] = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 30.0,
        stop_timeout: float = 5.0,
    ) -> None:
        """Records the options; the process starts with ``start()`` or ``with``."""
        self.family = family
        self.mode = mode
        self.verification = verification
        self.settle_ms = settle_ms
        self.orders = orders
        self.binary = binary
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._process: Optional[subprocess.Popen] = None
        self._tmp: Optional[str] = None
        self._config: Optional[Dict[str, Any]] = None
        self._base_url: Optional[str] = None
        # No proxy: the control API answers loopback clients only.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> "Simulator":
        """Starts the simulator and waits for its ready line; returns self."""
        if self._process is not None:
            raise SimulatorError("this Simulator is already running")
        binary = find_simulator(self.binary)
        self._tmp = tempfile.mkdtemp(prefix="wxrefund-sim-")
        tmp = Path(self._tmp)
        config_path = tmp / "config.json"
        args: List[str] = [str(binary), "--family", self.family,
                           "--config-out", str(config_path), "--exit-on-stdin-eof"]
        if self.mode is not None:
            args += ["--mode", self.mode]
        if self.verification is not None:
            args += ["--verification", self.verification]
        if self.settle_ms is not None:
            args += ["--settle-ms", str(int(self.settle_ms))]
        if self.orders is not None:
            orders_path = tmp / "orders.json"
            orders_path.write_text(json.dumps(self.orders), encoding="utf-8")
            args += ["--orders", str(orders_path)]
        args += list(self.extra_args)
        stderr_path = tmp / "stderr.log"
        try:
            with open(stderr_path, "wb") as stderr:
                # stdin stays open: --exit-on-stdin-eof stops the simulator should this
                # process die without calling stop().
                self._process = subprocess.Popen(
                    args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
            line = self._ready_line()
            if not line.startswith(_READY_PREFIX):
                raise SimulatorError(f"wxrefund-sim printed {line!r}, not its ready line"
                                     + self._stderr_tail())
            self._base_url = line[len(_READY_PREFIX):].split()[0]
            self._config = json.loads(config_path.read_text(encoding="utf-8"))
        except BaseException:
            self.stop()
            raise
        return self

    def _ready_line(self) -> str:
        """Reads the ready line, within startup_timeout."""
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        got: List[bytes] = []
        reader = threading.Thread(target=lambda: got.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.startup_timeout)
        if reader.is_alive():
            raise SimulatorError(
                f"wxrefund-sim printed no ready line within {self.startup_timeout} s"
                + self._stderr_tail())
        if not got or not got[0]:
            code = self._process.wait()
            raise SimulatorError(f"wxrefund-sim exited with status {code} before it was ready"
                                 + self._stderr_tail())
        return got[0].decode("utf-8", "replace").strip()

    def _stderr_tail(self) -> str:
        """The last lines the simulator wrote on stderr, for error messages."""
        if self._tmp is None:
            return ""
        try:
            text = (Path(self._tmp) / "stderr.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        tail = "\n".join(text.strip().splitlines()[-10:])
        return f"; its stderr:\n{tail}" if tail else ""

    def stop(self) -> None:
        """Stops the process (SIGTERM, then SIGKILL after stop_timeout) and removes the
        temporary files. Safe to call more than once."""
        process, self._process = self._process, None
        self._config = self._base_url = None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    def __enter__(self) -> "Simulator":
        """Starts the simulator."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stops the simulator."""
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the process is running."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> Optional[int]:
        """The process id, or None when not started."""
        return None if self._process is None else self._process.pid

    @property
    def config(self) -> Dict[str, Any]:
        """The client configuration it handed out (a copy): ``wxrefund.Client(sim.config)``."""
        if self._config is None:
            raise SimulatorError("the simulator is not running: use `with Simulator() as sim`")
        return dict(self._config)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, where it serves the platforms and ``/_sim/``."""
        if self._base_url is None:
            raise SimulatorError("the simulator is not running: use `with Simulator() as sim`")
        return self._base_url

    # -- control API ------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Optional[Mapping[str, Any]] = None) -> Any:
        """One control API request; raises SimulatorError with the message and field."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=30) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                detail = json.loads(raw)
                message, field = str(detail["error"]), detail.get("field")
            except (ValueError, KeyError, TypeError):
                message, field = raw.decode("utf-8", "replace") or str(error), None
            raise SimulatorError(message, field, error.code) from None
        except urllib.error.URLError as error:
            raise SimulatorError(f"{method} {path}: {error.reason}") from None
        return json.loads(raw) if raw.strip() else None

    def add_order(self, family: str, **fields: Any) -> Dict[str, Any]:
        """Adds (or replaces) an order: ``add_order("domestic", out_trade_no="T1",
        transaction_id="4200000001", total=10000)``; fields as in an ``--orders`` file."""
        return self._call("POST", "/_sim/orders", dict(fields, family=family))

    def inject(self, kind: str, count: int = 1, **params: Any) -> Dict[str, Any]:
        """Queues a fault for the next ``count`` refund requests: SYSTEM_ERROR,
        RATE_LIMITED, DELAY (``delay_ms=``), DROP_AFTER_COMMIT, BAD_SIGNATURE,
        PROBE_SIGNATURE, UNSIGNED or CLOCK_SKEW (``skew_secs=``)."""
        return self._call("POST", "/_sim/faults", dict(params, kind=kind, count=count))

    def settle(self, out_refund_no: str, status: str) -> Dict[str, Any]:
        """Settles a processing refund now into SUCCESS, CLOSED or ABNORMAL."""
        path = f"/_sim/refunds/{urllib.parse.quote(out_refund_no, safe='')}/settle"
        return self._call("POST", path, {"status": status})

    def skew_clock(self, secs: int) -> Dict[str, Any]:
        """Shifts the timestamp of every signature by ``secs`` seconds (0 restores)."""
        return self._call("POST", "/_sim/clock", {"skew_secs": secs})

    def rotate_certificate(self) -> Dict[str, Any]:
        """Signs with the next platform certificate from now on."""
        return self._call("POST", "/_sim/certificates/rotate")

    def revoke_wecom_tokens(self) -> Dict[str, Any]:
        """Revokes every WeCom access token issued so far (they answer 40014)."""
        return self._call("POST", "/_sim/wecom/tokens/revoke")

    def inject_notification(self, kind: str, count: int = 1) -> Dict[str, Any]:
        """Queues a fault for the next ``count`` refund notifications: DUPLICATE, PROBE,
        BAD_SIGNATURE, TAMPERED, WRONG_KEY or STALE."""
        return self._call("POST", "/_sim/notifications/faults", {"kind": kind, "count": count})

    def redeliver(self, notification_id: str) -> Dict[str, Any]:
        """One more delivery attempt of a notification (its envelope ``id``) now."""
        path = f"/_sim/notifications/{urllib.parse.quote(notification_id, safe='')}/redeliver"
        return self._call("POST", path)

    def state(self) -> Dict[str, Any]:
        """Orders and refunds per family, deliveries, queued faults and settings."""
        return self._call("GET", "/_sim/state")

    def requests(self) -> List[Dict[str, Any]]:
        """The last 1,000 platform requests (method, path, status, body_sha256, verdict)."""
        answer = self._call("GET", "/_sim/requests")
        if isinstance(answer, dict) and "requests" in answer:
            return list(answer["requests"])
        return list(answer)

    def reset(self) -> Dict[str, Any]:
        """Back to the seeded start state."""
        return self._call("POST", "/_sim/reset")

    def __repr__(self) -> str:
        """The family and where it runs."""
        where = self._base_url if self.running else "stopped"
        return f"<wxrefund.testing.Simulator {self.family} {where}>"
