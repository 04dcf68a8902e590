"""The refinement canvas: paint a mask with mouse or pen, request an inpaint, compare results.

`CanvasWidget` is self-contained (no database, no HTTP); the main window embeds it and wires
`inpaint_requested` to the job queue.
"""

from __future__ import annotations

import ctypes
import sys


def _guard_singleton_refcounts() -> None:
    """Work around PySide6 6.12 on Python < 3.12 leaking references to None / True / False.

    That build returns these singletons from void and bool methods without a new reference
    (correct only where they are immortal, Python 3.12+), so every call drops one reference
    and the process aborts with "deallocating None" after a few thousand calls. A painting
    canvas makes that many calls in seconds. When the leak is detected, give the three
    singletons a reference count no program can exhaust, as Python 3.12 does. Process-wide
    and idempotent; the application start-up should call it too.
    """
    if sys.version_info >= (3, 12):
        return
    from PySide6.QtCore import QRect

    probe = QRect()
    before = sys.getrefcount(None)
    probe.setWidth(1)
    if sys.getrefcount(None) >= before:
        return
    for obj in (None, True, False):
        refcount = ctypes.c_ssize_t.from_address(id(obj))
        if refcount.value < 1 << 40:
            refcount.value += 1 << 40


_guard_singleton_refcounts()

from dlx_art.gui.canvas.panel import CanvasWidget, InpaintRequestData, InpaintSettings  # noqa: E402
from dlx_art.gui.canvas.view import CanvasView, Tool  # noqa: E402

__all__ = ["CanvasView", "CanvasWidget", "InpaintRequestData", "InpaintSettings", "Tool"]
