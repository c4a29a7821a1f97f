"""The README's first command on a stock Debian/Ubuntu Python (issue 25 item 1).

Debian 12 and Ubuntu 24.04 mark their own Python externally managed (PEP 668): `pip install` into it
is refused. `scripts/demo` must still work unchanged there: it makes a project venv with that Python
and installs into the venv; inside an activated venv it uses that venv. These tests run the real
script with Debian's own /usr/bin/python3 (skipped where there is none).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = Path("/usr/bin/python3")


def _externally_managed(python: Path) -> bool:
    if not python.exists():
        return False
    out = subprocess.run([str(python), "-c", "import sysconfig, os; print(os.path.join("
                          "sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED'))"],
                         capture_output=True, text=True, timeout=60, check=False)
    return out.returncode == 0 and Path(out.stdout.strip()).is_file()


def _env(tmp: Path, path: str, **extra: str) -> dict[str, str]:
    """A newcomer's shell: no PYTHONPATH, no activated venv, only the PATH given."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHON", "PYTHONHOME", "NETCHECK_VENV")}
    return {**env, "PATH": path, "HOME": str(tmp), "NO_COLOR": "1", **extra}


pytestmark = pytest.mark.skipif(not _externally_managed(SYSTEM_PYTHON),
                                reason="no externally-managed (PEP 668) /usr/bin/python3 here (Debian 12, Ubuntu 24.04)")


@pytest.mark.slow
@pytest.mark.timeout(1800)  # one pip install of every dependency into a fresh venv
def test_demo_on_the_distributions_own_python_then_inside_an_activated_venv(tmp_path: Path) -> None:
    # the distribution really refuses a plain pip install (otherwise this test proves nothing)
    refused = subprocess.run([str(SYSTEM_PYTHON), "-m", "pip", "install", "--dry-run", "--no-deps", str(ROOT)],
                             capture_output=True, text=True, timeout=120, check=False,
                             env=_env(tmp_path, "/usr/bin:/bin"))
    assert refused.returncode != 0 and "externally-managed-environment" in refused.stdout + refused.stderr

    venv = tmp_path / "project-venv"
    demo = subprocess.run([str(ROOT / "scripts" / "demo"), "--quiet"], capture_output=True, text=True,
                          timeout=900, check=False, cwd=tmp_path,
                          env=_env(tmp_path, "/usr/bin:/bin", NETCHECK_VENV=str(venv)))
    if demo.returncode != 0 and "No matching distribution" in demo.stderr:
        pytest.skip("the package index is not reachable: " + demo.stderr[-300:])
    assert demo.returncode == 0, demo.stdout + demo.stderr[-3000:]
    assert demo.stdout.startswith("VERDICT: GO"), demo.stdout
    assert "externally-managed" not in demo.stderr
    cfg = (venv / "pyvenv.cfg").read_text()
    assert "home = /usr/bin" in cfg, cfg  # the venv was made from the distribution's own Python

    # the same command inside that venv, activated: it is used as it is (nothing installed, no .venv made)
    other = tmp_path / "must-not-exist"
    again = subprocess.run([str(ROOT / "scripts" / "demo"), "--quiet"], capture_output=True, text=True,
                           timeout=300, check=False, cwd=tmp_path,
                           env=_env(tmp_path, f"{venv}/bin:/usr/bin:/bin", VIRTUAL_ENV=str(venv),
                                    NETCHECK_VENV=str(other)))
    assert again.returncode == 0 and again.stdout.startswith("VERDICT: GO"), again.stdout + again.stderr[-3000:]
    assert "installing" not in again.stderr and "creating" not in again.stderr, again.stderr
    assert not other.exists()


def test_missing_venv_module_is_a_clear_message(tmp_path: Path) -> None:
    """Debian without python3-venv: `python3 -m venv` fails (no ensurepip). Not root or no apt: say what to install."""
    fake = tmp_path / "bin"
    fake.mkdir()
    python3 = fake / "python3"
    python3.write_text('#!/bin/sh\n[ "$1" = -m ] && [ "$2" = venv ] && {\n'
                       '  echo "The virtual environment was not created successfully because ensurepip is not'
                       ' available." >&2; exit 1; }\nexec /usr/bin/python3 "$@"\n')
    python3.chmod(0o755)
    venv = tmp_path / "venv"
    out = subprocess.run([str(ROOT / "scripts" / "demo")], capture_output=True, text=True, timeout=120, check=False,
                         cwd=tmp_path, env=_env(tmp_path, f"{fake}:/usr/bin:/bin", NETCHECK_VENV=str(venv),
                                                NETCHECK_NO_APT="1"))
    assert out.returncode == 2, out.stdout + out.stderr
    assert "apt-get install python3-venv" in out.stderr and "PYTHON=" in out.stderr
    assert "Traceback" not in out.stderr and not venv.exists()
