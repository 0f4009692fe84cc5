"""Bad values are refused before anything runs: exit 3 and the option named (the CLI's
``main`` in-process for the many cases; end to end ``python -m ventbench`` for two)."""

from __future__ import annotations

import subprocess
import sys

import pytest

RIG = "sim://rig?speed=max"


def ventbench(*argv: str, cwd=None) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "ventbench", *argv], capture_output=True,
                          text=True, timeout=120, cwd=cwd)
    return done.returncode, done.stderr


@pytest.mark.parametrize(("argv", "words"), [
    (["record", "--port", RIG, "--driver", "rig", "--duration", "inf"], "argument --duration: duration 'inf'"),
    (["record", "--port", RIG, "--driver", "rig", "--duration", "nan"], "argument --duration"),
    (["record", "--port", RIG, "--driver", "rig", "--samples", "-1"], "argument --samples"),
    (["record", "--port", RIG, "--driver", "rig", "--no-data-timeout", "-1"], "argument --no-data-timeout"),
    (["record", "--port", RIG, "--driver", "imt", "--option", "fast_fields=0,4"],
     "--option (imt driver): fast_fields: expected 3 measurement ids"),
    (["record", "--port", RIG, "--driver", "rig", "--option", "bogus=1"],
     "--option (rig driver) bogus: unknown option (known: hello_timeout_s, rate_hz,"),
    (["record", "--port", "sim://rig?bogus=1", "--driver", "rig"],
     "argument --port: sim://rig?bogus=1: unknown query key 'bogus' (known: speed,"),
    (["record", "--port", "sim://rig?speed=0", "--driver", "rig"], "argument --port"),
    (["record", "--port", "sim://rig?ber=2", "--driver", "rig"], "sim://rig ber: expected 0 ≤ value ≤ 1"),
    (["record", "--port", "sim://nosuch", "--driver", "rig"], "no simulated device 'nosuch'"),
    (["record", "--port", RIG, "--driver", "rig", "--clock", "device"], "--clock: only with a second source"),
    (["run", "iso80601-2-12-vc", "--port", RIG, "--driver", "rig", "--duration", "1h"],
     "--duration: protocol 'iso80601-2-12-vc' is not a reliability run"),
    (["run", "reliability", "--port", RIG, "--driver", "rig", "--set", "vt_ml=-500"],
     "argument --set: 'vt_ml=-500'"),
    (["run", "reliability", "--port", RIG, "--driver", "rig", "--duration", "-1h"], "argument --duration"),
    (["run", "iso80601-2-12-vc", "--port", RIG, "--driver", "rig", "--t-amb", "99"], "argument --t-amb"),
    (["simulate", "--link", "LINK", "--fault", "bogus=1"], "--fault bogus: unknown parameter (known:"),
    (["simulate", "--link", "LINK", "--set", "vt_ml=-500"], "--set/--fault: vt -500.0 mL: expected > 0"),
    (["simulate", "--link", "LINK", "--set", "rate_hz=0"], "--set rate_hz: expected 1 ≤ value ≤ 5000"),
    (["simulate", "--link", "LINK", "--speed", "0"], "argument --speed"),
    (["simulate", "--link", "LINK", "--duration", "1m30"], "argument --duration"),
])
def test_bad_values_exit_3_naming_the_option(tmp_path, capsys, argv, words):
    from ventbench.bench.cli import main

    argv = [a.replace("LINK", str(tmp_path / "tty")) for a in argv]
    if argv[0] in ("record", "run"):
        argv += ["--out", str(tmp_path / "out")]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 3, err
    assert words in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before any file is written


def test_end_to_end_a_bad_option_exits_3_without_a_traceback(tmp_path):
    code, err = ventbench("record", "--port", "sim://imt?speed=max", "--driver", "imt",
                          "--option", "fast_fields=0;4;9", "--out", str(tmp_path / "rec"))
    assert code == 3 and "fast_fields: expected an integer" in err and "Traceback" not in err


def test_a_good_imt_option_records(tmp_path):
    code, err = ventbench("record", "--port", "sim://imt?speed=max", "--driver", "imt",
                          "--option", "fast_fields=0,4,9", "--duration", "1s500ms",
                          "--out", str(tmp_path / "rec"))
    assert code == 0, err
    import json

    doc = json.loads((tmp_path / "rec" / "record.json").read_text())
    assert doc["options"]["fast_fields"] == [0, 4, 9] and doc["duration_s"] == 1.5
