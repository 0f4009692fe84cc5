"""Lean start-up: ``ventbench --help`` and every ``ventbench CMD --help`` import no numpy,
scipy or matplotlib (checked in a fresh interpreter, as a user runs it)."""

from __future__ import annotations

import os
import subprocess
import sys

COMMANDS = ("demo", "run", "record", "analyze", "replay", "verify", "report", "simulate",
            "protocols", "ports", "history", "reanalyze", "keys")
HEAVY = ("numpy", "scipy", "matplotlib")
BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: One fresh interpreter: ``ventbench --help``, ``--version`` and every ``CMD --help`` in
#: turn (each exits 0), then the heavy packages that any of them imported.
PROBE = """
import sys
from ventbench.bench.cli import main
codes = [main(argv) for argv in [["--help"], ["--version"]] + [[c, "--help"] for c in COMMANDS]]
print("HEAVY=" + ",".join(m for m in HEAVY if m in sys.modules), "CODES=" + str(set(codes)))
""".replace("COMMANDS", repr(COMMANDS)).replace("HEAVY if", repr(HEAVY) + " if")


def test_help_of_every_command_imports_nothing_heavy():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "HEAVY= CODES={0}", done.stderr


def test_python_m_ventbench_help_exits_0():
    done = subprocess.run([sys.executable, "-m", "ventbench", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "COMMAND" in done.stdout


def test_the_cli_module_lists_every_command():
    from ventbench.bench import cli

    assert cli.COMMANDS == COMMANDS


def test_constants_repeated_for_a_light_help_match_their_source():
    from ventbench.bench.commands import run_reliability, simulate
    from ventbench.bench.reliability.config import QUANTITIES
    from ventbench.drivers.registry import DEVICES

    assert run_reliability.QUANTITIES == QUANTITIES
    assert simulate.DEVICE_NAMES == tuple(sorted(DEVICES))


def test_a_command_imports_its_own_module_only():
    """``ventbench analyze …`` builds and imports the analyze command alone; an unknown
    command still lists them all."""
    probe = ("import sys\nfrom ventbench.bench.cli import main\nmain(['analyze', '--help'])\n"
             "print(sorted(m for m in sys.modules if m.startswith('ventbench.bench.commands.')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "['ventbench.bench.commands.analyze']", done.stderr
    wrong = subprocess.run([sys.executable, "-m", "ventbench", "analyse"], capture_output=True, text=True,
                           timeout=60)
    assert wrong.returncode == 3 and "invalid choice: 'analyse'" in wrong.stderr
    assert all(name in wrong.stderr for name in COMMANDS)


def test_analyze_imports_only_what_it_uses(tmp_path):
    """Analysing a long recording (measure only) computes with numpy alone: no scipy, no
    matplotlib, no numpy.ma (np.median's and np.percentile's first call), no tomllib (no
    TOML read) — each ~6–600 ms of every ``analyze`` run when it crept back in. (With fewer
    than ~1000 breaths the coverage factor's Student's t comes from ``scipy.special``.)"""
    import numpy as np

    from ventbench.drivers.importers.ventmap_write import write_ventmap
    from ventbench.drivers.sim.lung import Lung
    from ventbench.drivers.sim.simulation import simulate
    from ventbench.drivers.sim.ventilator import VentilatorSettings

    trace = simulate(VentilatorSettings(), Lung(), duration_s=3300.0, fs_hz=50.0, seed=1).trace
    recording = tmp_path / "pb840.txt"
    write_ventmap(recording, trace.flow_lpm, trace.paw_cmh2o, np.arange(0, len(trace), 150))
    probe = ("import os, sys\nfrom ventbench.bench.cli import main\n"
             f"code = main(['analyze', {str(recording)!r}, '--json', {str(tmp_path / 'r.json')!r}])\n"
             "import gc\n"
             "print('CODE', code, sorted(m for m in ('scipy', 'matplotlib', 'numpy.ma', 'tomllib', 'importlib.resources') "
             "if m in sys.modules), 'GC', gc.get_threshold()[0], "
             "'THREADS', len(os.listdir('/proc/self/task')))")
    env = {k: v for k, v in os.environ.items() if k not in BLAS_VARIABLES}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          env=env)
    # the young generation's collection threshold is the CLI's (cli.GC_YOUNG_THRESHOLD), and
    # numpy's BLAS started no thread of its own (cli.BLAS_THREAD_VARIABLES)
    assert done.stdout.strip().splitlines()[-1] == "CODE 0 [] GC 50000 THREADS 1", \
        done.stdout[-2000:] + done.stderr


def test_blas_threads_are_one_unless_the_user_says_otherwise(monkeypatch):
    """The CLI sets each BLAS thread count to 1 before numpy loads, keeping a user's own."""
    from ventbench.bench import cli

    assert cli.BLAS_THREAD_VARIABLES == BLAS_VARIABLES
    for name in BLAS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cli.main(["--version"]) == 0
    assert [os.environ[name] for name in BLAS_VARIABLES] == ["1", "3", "1"]
