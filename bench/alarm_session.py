"""Alarm tests in a session: run after the performance points, recorded, re-derivable.

Each ``[[alarms]]`` test of the protocol (bench.alarm_model) gets ``SESSION/alarms/ID/``:

- ``capture.vbcap`` — every byte both ways (the ``ACT`` / ``SAFE`` commands, the rig's EVENT 8
  moments, the samples with the sound level, the device's alarm EVENTs);
- ``alarm.json`` — the test as run: the port URL, the keypress moments (operator-induced or
  operator-detected tests; they are not in the capture), an abort reason, and the result.

The result is always computed from the capture read back (:func:`rederive`), live as in
``replay`` / ``verify``, so the recorded numbers are exactly what the data gives.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

from ventbench.analysis.alarm_limits import AlarmLimit
from ventbench.bench.alarm_model import AlarmTest

ALARMS_DIR = "alarms"
ALARM_FILE = "alarm.json"
CAPTURE = "capture.vbcap"


def test_from_json(raw: dict[str, Any]) -> AlarmTest:
    """An :class:`AlarmTest` from its ``to_json`` form (start.json's protocol)."""
    lim = raw["limit"]
    limit = AlarmLimit(raw["condition"], float(lim["abs"]), lim["source"], lim["confidence"])
    return AlarmTest(**{k: v for k, v in raw.items() if k != "limit"}, limit=limit)


class _TeePort:
    """A port whose every read and write also goes to a capture (RX / TX records)."""

    def __init__(self, port: Any, capture: Any) -> None:
        self._port, self._cap = port, capture

    def read(self, n: int = 1) -> bytes:
        data = self._port.read(n)
        if data:
            self._cap.rx(data)
        return data

    def write(self, data: bytes) -> int | None:
        self._cap.tx(bytes(data))
        return self._port.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._port, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("_port", "_cap"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._port, name, value)


def alarm_url(url: str, operator: Any, point: Any) -> str:
    """The port URL of an alarm test: the operator's for the point, plus the simulated
    prototype's alarm parameters on a ``sim://`` URL."""
    url = operator.port_url(point, url)
    extra = dict(getattr(getattr(operator, "prototype", None), "alarm_params", {}) or {})
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() != "sim" or not extra:
        return url
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)) | extra
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def run_one(test: AlarmTest, url: str, driver_name: str, driver_options: dict[str, Any], out: Path,
            *, keypress: Any = None, header: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ``test`` on ``url`` into ``out`` (created); return the alarm record (with result)."""
    from ventbench.bench.alarm_tests import Sequencer
    from ventbench.drivers.capture_writer import CaptureWriter
    from ventbench.drivers.registry import make_driver
    from ventbench.drivers.transport import open_port
    from ventbench.errors import BenchError

    out.mkdir(parents=True, exist_ok=False)
    driver = make_driver(driver_name, **driver_options)
    record: dict[str, Any] = {"test": test.to_json(), "url": url, "keypress_s": None, "aborted": ""}
    presses: list[float] = []
    with CaptureWriter(out / CAPTURE, header={"alarm_test": test.id, **(header or {})}) as cap:
        port = None
        try:
            port = _TeePort(open_port(url, driver), cap)
            driver.handshake(port)
            driver.start(port)
            seq = Sequencer(port, driver, keypress=keypress)
            run = seq.run(test)
            record["aborted"] = run.aborted
            record["keypress_s"] = run.keypress_s
            if test.induce == "operator":
                presses += [run.induced_s, run.released_s]
        except BenchError as error:
            record["aborted"] = f"{type(error).__name__}: {error}"
        finally:
            if port is not None:
                driver.stop(port)
                try:
                    port.close()
                except Exception:  # noqa: BLE001 - closing must not mask the first error
                    pass
    record["operator_moments_s"] = presses
    record["result"] = rederive(out, test, driver_name, driver_options, record)
    _write(out / ALARM_FILE, record)
    return record


def decode_alarm_capture(path: Path, driver_name: str, driver_options: dict[str, Any]
                         ) -> tuple[dict[str, Any], list[dict]]:
    """Samples (t_s, flow_lpm, paw_cmh2o, flags, sound_dba) and rig events of a capture,
    decoded through a fresh driver as the live test decoded them."""
    from ventbench.bench.alarm_tests import Acquired
    from ventbench.drivers.capture import rx_bytes
    from ventbench.drivers.registry import make_driver

    driver = make_driver(driver_name, **driver_options)
    acq = Acquired()
    data = rx_bytes(path)
    for i in range(0, len(data), 65536):
        acq.add(driver.feed(data[i:i + 65536]))
    return acq.arrays(), list(driver.counters.events)


def rederive(out: Path, test: AlarmTest, driver_name: str, driver_options: dict[str, Any],
             record: dict[str, Any]) -> dict[str, Any]:
    """The result of one alarm test from its capture read back (and the keypresses)."""
    from ventbench.bench.alarm_tests import ACTUATOR, AlarmRun, judge_run

    arrays, events = decode_alarm_capture(out / CAPTURE, driver_name, driver_options)
    run = AlarmRun(test, arrays, events, aborted=record.get("aborted", ""))
    if test.induce == "rig":
        name = ACTUATOR[test.condition]
        on = next((e for e in events if e["code"] == 8 and e["text"] == f"{name}=1"), None)
        run.induced_s = None if on is None else float(on["t_s"])
        off = next((e for e in events if e["code"] == 8 and e["text"] == f"{name}=0"
                    and on is not None and e["t_s"] >= on["t_s"]), None)
        run.released_s = None if off is None else float(off["t_s"])
    else:
        moments = record.get("operator_moments_s") or [None, None]
        run.induced_s, run.released_s = (moments + [None, None])[:2]
    return judge_run(run, keypress_s=record.get("keypress_s")).to_json()


def _write(path: Path, doc: dict[str, Any]) -> None:
    import json

    path.write_text(json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")


def terminal_keypress(operator: Any) -> Any:
    """``keypress(prompt, countdown_s)`` for an operator at a terminal (``stdin`` / ``stdout``):
    a countdown, then the prompt; returns when Enter is pressed. None for other operators."""
    if getattr(operator, "kind", "") != "terminal":
        return None

    def press(prompt: str, countdown_s: float) -> None:
        import time

        out = operator.stdout
        for left in range(int(countdown_s), 0, -1):
            out.write(f"  alarm test: {prompt} — in {left} s\n")
            out.flush()
            time.sleep(1.0)
        out.write(f"  alarm test: NOW — {prompt}\n")
        out.flush()
        operator.stdin.readline()

    return press


def run_session_alarms(runner: Any, point_view: Any) -> list[dict[str, Any]]:
    """Run every alarm test of the runner's protocol after its points (Runner hook);
    ``point_view`` wraps a point dict the way the runner's operator reads points."""
    plan = runner.plan
    tests = [test_from_json(t) for t in plan.protocol.get("alarms", [])]
    if not tests:
        return []
    from ventbench.bench.session import safe_name

    points = {pt["id"]: pt for pt in plan.protocol["points"]}
    first = plan.protocol["points"][0]
    results = []
    for test in tests:
        point = points.get(test.point, first)
        runner.live.line(f"alarm test {test.id}: {test.condition.replace('_', ' ')}, "
                         f"limit {test.limit.delay_s:g} s ({test.limit.confidence})")
        url = alarm_url(plan.port_url, plan.operator, point_view(point))
        record = run_one(test, url, plan.driver, plan.driver_options,
                         runner.session.root / ALARMS_DIR / safe_name(test.id),
                         keypress=terminal_keypress(plan.operator),
                         header={"session": runner.session.session_id})
        result = record["result"]
        results.append(result)
        delay = "—" if result["delay_s"] is None else f"{result['delay_s']:.3f} s"
        runner.live.line(f"alarm test {test.id}: delay {delay} → {result['verdict']}"
                         + (f" ({result['reason']})" if result.get("reason") else ""))
    return results


def rederive_session_alarms(session: Path, start: dict[str, Any]) -> list[dict[str, Any]]:
    """Every alarm test of a session that was run, re-derived from its capture (replay, verify)."""
    from ventbench.bench.session import read_json, safe_name

    port = start.get("port") or {}
    out = []
    for raw in (start.get("protocol") or {}).get("alarms", []):
        test = test_from_json(raw)
        adir = Path(session) / ALARMS_DIR / safe_name(test.id)
        if not (adir / ALARM_FILE).exists():
            continue
        record = read_json(adir / ALARM_FILE, "alarm record")
        out.append(rederive(adir, test, port.get("driver", "rig"), port.get("driver_options") or {}, record))
    return out


def fold_alarms(results: dict[str, Any], alarms: list[dict[str, Any]], session: Path | None = None
                ) -> dict[str, Any]:
    """Put ``alarms`` into a results document (their captures into ``source.files``), their
    numbers rounded as every number of the results (:func:`analysis.results.to_jsonable`);
    the overall verdict takes the worst of them."""
    if not alarms:
        return results
    from ventbench.analysis.results import to_jsonable

    results["alarms"] = alarms = to_jsonable(alarms)  # 7 significant digits, as every number
    if session is not None and isinstance(results.get("source"), dict):
        from ventbench.bench.session import safe_name, sha256_file

        files = results["source"].setdefault("files", [])
        for alarm in alarms:
            rel = f"{ALARMS_DIR}/{safe_name(alarm['id'])}/{CAPTURE}"
            if (Path(session) / rel).exists():
                files.append({"path": rel, "sha256": sha256_file(Path(session) / rel), "format": "vbcap"})
    verdicts = {a["verdict"] for a in alarms}
    if "FAIL" in verdicts:
        results["verdict"] = "FAIL"
    elif "INCONCLUSIVE" in verdicts and results.get("verdict") == "PASS":
        results["verdict"] = "INCONCLUSIVE"
    return results
