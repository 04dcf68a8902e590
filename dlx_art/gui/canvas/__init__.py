"""The refinement canvas: paint a mask with mouse or pen, request an inpaint, compare results.

`CanvasWidget` is self-contained (no database, no HTTP); the main window embeds it and wires
`inpaint_requested` to the job queue.
"""

from __future__ import annotations

from dlx_art.gui.canvas.panel import CanvasWidget, InpaintRequestData, InpaintSettings
from dlx_art.gui.canvas.view import CanvasView, Tool

__all__ = ["CanvasView", "CanvasWidget", "InpaintRequestData", "InpaintSettings", "Tool"]
