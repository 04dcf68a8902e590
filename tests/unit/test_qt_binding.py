"""Guard against a Qt binding that leaks references to None/True/False.

PySide6 6.12.0 on Python 3.11 drops a reference to None on every call of a C++ method that
returns void, so a painting session aborts the whole process ("deallocating None") after a few
thousand calls. pyproject.toml excludes it; this test fails if an upgrade brings the leak back.
Runs in a subprocess because a leaking binding kills the interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys

CODE = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QListView, QWidget
app = QApplication([])
w = QWidget()

class Emitter(QObject):
    changed = Signal(object)

class Model(QAbstractListModel):
    def rowCount(self, parent=QModelIndex()):
        return 500
    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        return None                # Qt -> Python call returning None

emitter = Emitter()
emitter.changed.connect(lambda value: None)
view = QListView()
view.setModel(Model())
view.resize(200, 2000)
none0, true0, false0 = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
for i in range(3000):
    w.setMinimumWidth(i % 7)   # returns None
    w.isVisible()              # returns False
    w.isEnabled()              # returns True
    emitter.changed.emit(i)    # Python emit
for _ in range(5):
    view.grab()                # paints: many data() calls
print(sys.getrefcount(None) - none0, sys.getrefcount(True) - true0,
      sys.getrefcount(False) - false0)
"""


def test_qt_calls_do_not_leak_singleton_references():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    deltas = [int(x) for x in result.stdout.split()]
    assert all(abs(d) < 100 for d in deltas), deltas
