"""The service (`dlx_art/service`) is headless: no Qt, no GUI, no CLI, like the core."""

from __future__ import annotations

import subprocess
import sys

from tests.unit.test_layering import FORBIDDEN, PACKAGE, _imports


def test_service_sources_do_not_import_qt():
    offenders = [f"{path.relative_to(PACKAGE)}: {name}"
                 for path in (PACKAGE / "service").rglob("*.py")
                 for name in _imports(path) if name.startswith(FORBIDDEN)]
    assert offenders == []


def test_service_app_builds_without_qt_loaded():
    code = ("import sys\nfrom dlx_art.config import load_context\n"
            "from dlx_art.service import create_app\nfrom dlx_art.service import server\n"
            "import dlx_art.generation.runner, dlx_art.library.changes\n"
            "create_app(load_context(), token='t')\n"
            "bad = [m for m in sys.modules if m.startswith(('PySide6', 'shiboken6'))]\n"
            "print(bad); sys.exit(1 if bad else 0)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=PACKAGE.parent, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
