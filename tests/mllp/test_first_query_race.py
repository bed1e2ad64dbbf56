"""Regression: the first PIX queries of a fresh process, run concurrently, all succeed.

empi/xref.py shares module-level aliased entities; SQLAlchemy adapts an alias's columns lazily, and
two threads doing it at once used to build two column sets ("Can't determine which FROM clause to
join from", AR 207 on the first queries after start). Each run needs a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import sys, tempfile, threading
sys.path.insert(0, sys.argv[1])
from tests.conftest import nist_settings
from dataclasses import replace
from empi.runtime import Runtime
from empi import xref
from empi.commands import RecordKey
from empi.errors import UnknownIdentifier
d = tempfile.mkdtemp()
rt = Runtime.start(replace(nist_settings(), database_url=f"sqlite:///{d}/r.db"))
barrier, errors = threading.Barrier(16), []
def go():
    barrier.wait()
    try:
        with rt.read() as s:
            xref.cross_references(s, RecordKey("a", "NIST2010"), rt=rt)
    except UnknownIdentifier:
        pass
    except Exception as e:
        errors.append(type(e).__name__)
threads = [threading.Thread(target=go) for _ in range(16)]
[t.start() for t in threads]; [t.join() for t in threads]
print(len(errors))
"""


def test_concurrent_first_queries_in_fresh_process() -> None:
    repo = Path(__file__).resolve().parents[2]
    for _ in range(4):
        out = subprocess.run([sys.executable, "-W", "error::Warning:empi.xref", "-c", SCRIPT, str(repo)],
                             capture_output=True, text=True, timeout=120, cwd=repo, check=False)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.strip().splitlines()[-1] == "0"
