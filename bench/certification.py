"""A certification run: the stages a national laboratory runs, chained into one session.

A plan (TOML; the built-in ``bench/data/certification.toml`` or a file)::

    [certification]
    title = "Type test of the ACME-1 prototype"     # optional

    [certification.function]                      # stage 1: function / accuracy points
    protocol = "iso80601-2-12-vc"                  # any run protocol (steady points too: cpap)
    points = ["vc-01", "vc-02"]                    # optional subset (or groups = [...])

    [certification.safety]                         # stage 2: the electrical-safety record
    record = "esa615-2026-12-05.toml"              # bench/electrical_safety.py; relative to the plan

    [certification.endurance]                      # stage 3: an endurance (reliability) run
    protocol = "reliability"                       # a protocol with a [reliability] table
    duration = "14d"

Session layout::

    SESSION/start.json                       kind "certification", the plan, the run's options
    SESSION/plan.toml                        the plan's bytes
    SESSION/instruments.toml                 the register's bytes (--instruments)
    SESSION/stages/function/<id>/            the function stage's own session (run)
    SESSION/stages/safety/record.toml        the record's bytes, safety.json its judgement
    SESSION/stages/endurance/<id>/           the endurance stage's own session (run reliability)
    SESSION/stage-<name>.json                a completed stage: verdict, its directory and the
                                             SHA-256 of every file in it
    SESSION/results.json  report.pdf  stop.json (stop-NN.json: an earlier, interrupted segment)

The overall verdict (:func:`overall`): FAIL if any stage FAILs; INCONCLUSIVE if any is
INCONCLUSIVE or not completed; PASS only when every stage PASSes. ``--resume SESSION`` skips
the stages whose ``stage-<name>.json`` exists and whose files still have their recorded
hashes, and continues with the next (an endurance stage interrupted inside is continued with
the reliability run's own ``--resume``; a function stage interrupted inside is run again,
its earlier attempt kept as evidence).
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ventbench.bench.electrical_safety import judge_record, parse_record
from ventbench.bench.session import read_json
from ventbench.errors import ConfigError
from ventbench.tomlfile import Key, TomlFile, check_table

STAGES = ("function", "safety", "endurance")
STAGE_DIR = "stages"
SCHEMA = "ventbench.certification/1"
BUILTIN = "certification"
#: the instrument register's bytes, copied at the start (the safety stage is judged against it)
REGISTER_FILE = "instruments.toml"
_TOP_KEYS = {"certification": Key("table", required=True)}
_CERT_KEYS = {"title": Key("string"), "function": Key("table", required=True),
              "safety": Key("table", required=True), "endurance": Key("table", required=True)}
_STAGE_KEYS = {
    "function": {"protocol": Key("text", required=True), "points": Key("strings"), "groups": Key("strings"),
                 "limits": Key("text")},
    "safety": {"record": Key("text")},
    "endurance": {"protocol": Key("text"), "duration": Key("text")},
}


@dataclass(frozen=True)
class Plan:
    """A checked certification plan (paths resolved against the plan's folder)."""

    path: str
    sha256: str
    text: str
    title: str = ""
    function: dict[str, Any] = field(default_factory=dict)
    safety_record: str | None = None
    endurance: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "title": self.title, "function": dict(self.function),
                "safety_record": self.safety_record, "endurance": dict(self.endurance)}


def builtin_plan_path() -> Path:
    return Path(__file__).resolve().parent / "data" / "certification.toml"


def is_plan(name: str) -> bool:
    """``certification`` or a TOML file with a ``[certification]`` table."""
    if name == BUILTIN:
        return True
    path = Path(name)
    if path.suffix == ".toml" and path.is_file():
        try:
            return "certification" in tomllib.loads(path.read_text("utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            return False
    return False


def load_plan(name: str) -> Plan:
    """Read and check a plan: every problem ``FILE:LINE: key.path: problem`` (ConfigError)."""
    path = builtin_plan_path() if name == BUILTIN else Path(name)
    toml, raw = TomlFile.read(path, "certification plan", "certification (built-in)" if name == BUILTIN else None)
    check_table(toml, toml.data, _TOP_KEYS, "plan", None)
    cert = check_table(toml, toml.data["certification"], _CERT_KEYS, "certification", "certification")
    for stage in STAGES:
        check_table(toml, cert[stage], _STAGE_KEYS[stage], f"certification.{stage}", f"certification.{stage}")
    func = dict(cert["function"])
    if "points" in func and "groups" in func:
        raise toml.error("certification.function.points", "give points or groups, not both", "points",
                         "certification.function")
    record = cert["safety"].get("record")
    if record is not None and name != BUILTIN:
        record = str((path.parent / record).resolve()) if not Path(record).is_absolute() else record
    endurance = {"protocol": "reliability", **cert["endurance"]}
    if "duration" in endurance:
        from ventbench.bench.args import parse_duration_s

        try:
            parse_duration_s(endurance["duration"])
        except ConfigError as error:
            raise toml.error("certification.endurance.duration", str(error), "duration",
                             "certification.endurance") from None
    return Plan(path=str(path), sha256=hashlib.sha256(raw).hexdigest(), text=raw.decode("utf-8"),
                title=str(cert.get("title", "")), function=func, safety_record=record, endurance=endurance)


def load_safety(path: str | Path) -> tuple[dict[str, Any], bytes]:
    """The electrical-safety record (checked) and its bytes; ConfigError naming the field."""
    path = Path(path)
    toml, raw = TomlFile.read(path, "electrical-safety record")
    return parse_record(toml.data, str(path)), raw


def judge_safety(record_bytes: bytes, where: str, register: Any) -> dict[str, Any]:
    """The safety stage's judgement: :func:`bench.electrical_safety.judge_record`, and
    INCONCLUSIVE without an instrument register (the analyser's traceability unknown) or when
    the analyser's certificate was not valid on the record's date."""
    record = parse_record(TomlFile(record_bytes.decode("utf-8"), where).data, where)
    out = judge_record(record, register)
    if out["verdict"] != "PASS":
        return out
    head = record["record"]
    if register is None:
        out["verdict"] = "INCONCLUSIVE"
        out["reason"] = "no instrument register (--instruments): the analyser's traceability is not established"
        return out
    analyser = next(i for i in register.instruments
                    if i.name == head["analyser"] and i.serial == head["analyser_serial"])
    if not str(analyser.calibrated) <= head["date"] <= str(analyser.due):  # ISO dates compare as text
        out["verdict"] = "INCONCLUSIVE"
        out["reason"] = (f"analyser {analyser.name} {analyser.serial}: certificate {analyser.certificate} valid "
                         f"{analyser.calibrated} … {analyser.due}, not on the record's date {head['date']}: not traceable")
    return out


def overall(stages: dict[str, str | None]) -> tuple[str, list[str]]:
    """FAIL if any stage FAILs; INCONCLUSIVE if any is INCONCLUSIVE or missing (None); PASS
    only when every stage PASSes. Returns the verdict and the reasons."""
    fail = [s for s in STAGES if stages.get(s) == "FAIL"]
    other = [s for s in STAGES if stages.get(s) not in ("PASS", "FAIL")]
    reasons = [f"stage {s}: FAIL" for s in fail]
    reasons += [f"stage {s}: {stages.get(s) or 'not completed'}" for s in other]
    return ("FAIL" if fail else "INCONCLUSIVE" if other else "PASS"), reasons


def files_sha256(root: Path) -> dict[str, str]:
    """SHA-256 of every regular file under ``root`` (relative POSIX paths)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def stage_intact(session: Path, record: dict[str, Any]) -> list[str]:
    """Files of a completed stage that no longer have their recorded hash (empty: intact)."""
    root = session / record["dir"]
    now = files_sha256(root) if root.is_dir() else {}
    problems = [f"{record['dir']}/{k}: changed since the stage completed" for k, v in record["files"].items()
                if now.get(k) != v and k in now]
    problems += [f"{record['dir']}/{k}: missing" for k in record["files"] if k not in now]
    return problems


def stage_records(session: Path) -> dict[str, dict[str, Any]]:
    """The ``stage-<name>.json`` records present."""
    return {s: read_json(session / f"stage-{s}.json", f"certification stage record ({s})")
            for s in STAGES if (session / f"stage-{s}.json").exists()}


def rederive(session: Path) -> dict[str, Any]:
    """The certification block re-derived from the stage records and the stages' own results
    (each stage's results.json verdict, the safety record judged again)."""
    from ventbench.bench.instruments import load_register

    session = Path(session)
    records = stage_records(session)
    stages, rows, problems = {}, [], []
    stage_why: dict[str, list[str]] = {}
    for name in STAGES:
        rec = records.get(name)
        if rec is None:
            stages[name] = None
            rows.append({"stage": name, "verdict": None, "status": "not completed"})
            continue
        problems += stage_intact(session, rec)
        root = session / rec["dir"]
        if name == "safety":
            reg = session / REGISTER_FILE
            register = load_register(reg) if reg.exists() else None
            judged = judge_safety((root / "record.toml").read_bytes(), f"{rec['dir']}/record.toml", register)
            verdict = judged["verdict"]
            why = [judged["reason"]] if judged.get("reason") else []
        else:
            results = read_json(root / "results.json", f"{name} stage results")
            verdict = results.get("verdict")
            why = list((results.get("reliability") or {}).get("reasons") or []) + [
                f"point {p.get('id')}: {p.get('verdict')}" for p in results.get("points") or []
                if p.get("verdict") not in ("PASS", "INFO", None)]
        stages[name] = verdict
        stage_why[name] = why
        rows.append({"stage": name, "verdict": verdict, "status": "completed", "dir": rec["dir"]})
    verdict, _ = overall(stages)
    reasons = [f"stage {n}: {stages[n] or 'not completed'}" + (" — " + "; ".join(stage_why[n]) if stage_why.get(n) else "")
               for n in STAGES if stages.get(n) != "PASS"]
    return {"schema": SCHEMA, "stages": rows, "verdict": verdict, "reasons": reasons, "problems": problems}


def replay_certification(session: Path, out: Path | None = None) -> int:
    """``ventbench replay`` of a certification session: each stage session's captures
    re-decoded and re-analysed (the function points as ``replay`` does, the endurance run as a
    reliability replay), the safety record judged again, and the overall verdict re-derived;
    identical → the exit code of the overall verdict, any difference → listed, exit 1."""
    import tempfile

    from ventbench.bench.reanalysis import reanalyze_session
    from ventbench.bench.reliability.replay import compare, replay_into
    from ventbench.bench.session import write_json_atomic
    from ventbench.exit_codes import EXIT_FAIL, exit_code_for_verdict

    session = Path(session)
    block = rederive(session)
    diffs = list(block["problems"])
    print(f"replay {session}: certification, {sum(1 for r in block['stages'] if r.get('dir'))} stage(s) completed")
    for row in block["stages"]:
        if not row.get("dir"):
            print(f"  {row['stage']:<10} not completed")
            continue
        sub = session / row["dir"]
        if row["stage"] == "function":
            target = None if out is None else Path(out) / "function"
            if target is not None:
                target.mkdir(parents=True, exist_ok=True)
            outcome = reanalyze_session(sub, read_json(sub / "start.json", "stage start record"), target)
            diffs += [f"function: {d}" for d in outcome.differences]
            if target is not None:
                write_json_atomic(target / "results.json", outcome.recomputed)
            print(f"  function   {outcome.n_points} point(s) re-analysed: {outcome.recomputed.get('verdict')}")
        elif row["stage"] == "endurance":
            with tempfile.TemporaryDirectory(prefix="ventbench-cert-replay-") as tmp:
                target = Path(out) / "endurance" if out is not None else Path(tmp)
                counts = replay_into(sub, target)
                diffs += [f"endurance: {d}" for d in compare(sub, target)]
            print(f"  endurance  {counts['breaths']} breaths re-decoded and re-analysed: {row['verdict']}")
        else:
            print(f"  safety     record judged again: {row['verdict']}")
    recorded = read_json(session / "results.json", "results") if (session / "results.json").exists() else {}
    verdict = block["verdict"]
    if verdict == "PASS" and any(r.startswith("device identity incomplete")
                                 for r in (recorded.get("certification") or {}).get("reasons") or []):
        verdict = "INCONCLUSIVE"
    if recorded and recorded.get("verdict") != verdict:
        diffs.append(f"overall verdict: recorded {recorded.get('verdict')!r}, re-derived {verdict!r}")
    for line in diffs:
        print(f"  {line}")
    if diffs:
        print(f"replay: {len(diffs)} difference(s) from the recorded session")
        return EXIT_FAIL
    print(f"replay: identical; overall verdict {verdict}")
    return exit_code_for_verdict(verdict)
