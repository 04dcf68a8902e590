"""Undo for mask edits: each command keeps only the changed pixels, compressed.

A stroke records the 64×64 tiles it touched (before and after); a whole-image operation records
one region covering the image. Region bytes are zlib-compressed (masks are mostly flat, so a
4096² clear costs a few kilobytes). `MaskHistory` bounds the history twice: by command count
(`QUndoStack.setUndoLimit`) and by total stored bytes, dropping the oldest edits first.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QRect
from PySide6.QtGui import QImage, QUndoCommand, QUndoStack

TILE = 64
UNDO_LIMIT = 50
UNDO_BYTE_LIMIT = 256 * 1024 * 1024
_ZLIB_LEVEL = 1


def read_region(image: QImage, rect: QRect) -> bytes:
    """The bytes of `rect` of an 8-bit image, rows packed without padding."""
    bpl = image.bytesPerLine()
    view = image.constBits()
    x, w = rect.x(), rect.width()
    if x == 0 and w == bpl:
        start = rect.y() * bpl
        return bytes(view[start : start + w * rect.height()])
    return b"".join(
        view[y * bpl + x : y * bpl + x + w] for y in range(rect.y(), rect.y() + rect.height())
    )


def write_region(image: QImage, rect: QRect, data: bytes) -> None:
    """Write packed rows `data` into `rect` of an 8-bit image (exact bytes, no blending)."""
    bpl = image.bytesPerLine()
    view = image.bits()
    x, w = rect.x(), rect.width()
    if x == 0 and w == bpl:
        start = rect.y() * bpl
        view[start : start + len(data)] = data
        return
    for row, y in enumerate(range(rect.y(), rect.y() + rect.height())):
        view[y * bpl + x : y * bpl + x + w] = data[row * w : (row + 1) * w]


@dataclass(frozen=True)
class Region:
    rect: QRect
    before: bytes  # zlib-compressed packed rows
    after: bytes

    @property
    def nbytes(self) -> int:
        return len(self.before) + len(self.after)


@dataclass(frozen=True)
class MaskEdit:
    """One undoable change of the mask: a stroke or a whole-image operation."""

    text: str
    regions: tuple[Region, ...]

    @property
    def nbytes(self) -> int:
        return sum(region.nbytes for region in self.regions)

    @property
    def bounds(self) -> QRect:
        rect = QRect()
        for region in self.regions:
            rect = rect.united(region.rect)
        return rect


class TileRecorder:
    """Remembers the original bytes of every tile a stroke is about to touch."""

    def __init__(self, image: QImage) -> None:
        self._image = image
        self._before: dict[tuple[int, int], bytes] = {}

    def touch(self, rect: QRect) -> None:
        """Call before painting into `rect` (image coordinates, already clipped)."""
        if rect.isEmpty():
            return
        for ty in range(rect.top() // TILE, rect.bottom() // TILE + 1):
            for tx in range(rect.left() // TILE, rect.right() // TILE + 1):
                if (tx, ty) not in self._before:
                    self._before[(tx, ty)] = read_region(self._image, self._tile_rect(tx, ty))

    def _tile_rect(self, tx: int, ty: int) -> QRect:
        return QRect(tx * TILE, ty * TILE, TILE, TILE).intersected(self._image.rect())

    def finish(self, text: str) -> MaskEdit | None:
        """Build the edit from the touched tiles; None when no pixel changed."""
        regions = []
        for (tx, ty), before in sorted(self._before.items(), key=lambda item: item[0][::-1]):
            rect = self._tile_rect(tx, ty)
            after = read_region(self._image, rect)
            if after != before:
                regions.append(
                    Region(
                        rect, zlib.compress(before, _ZLIB_LEVEL), zlib.compress(after, _ZLIB_LEVEL)
                    )
                )
        self._before.clear()
        return MaskEdit(text, tuple(regions)) if regions else None


def whole_image_edit(text: str, image: QImage, change: Callable[[], None]) -> MaskEdit | None:
    """Run `change` (which modifies `image` in place) and record it as one region."""
    rect = image.rect()
    before = read_region(image, rect)
    change()
    after = read_region(image, rect)
    if after == before:
        return None
    region = Region(rect, zlib.compress(before, _ZLIB_LEVEL), zlib.compress(after, _ZLIB_LEVEL))
    return MaskEdit(text, (region,))


class MaskEditCommand(QUndoCommand):
    """Undo/redo one `MaskEdit`. The edit is already applied when the command is pushed."""

    def __init__(self, apply: Callable[[MaskEdit, bool], None], edit: MaskEdit) -> None:
        super().__init__(edit.text)
        self.edit = edit
        self._apply = apply
        self._first = True

    def redo(self) -> None:
        if self._first:  # the pixels were painted live; pushing must not paint them again
            self._first = False
            return
        self._apply(self.edit, True)

    def undo(self) -> None:
        self._apply(self.edit, False)


def restore(image: QImage, edit: MaskEdit, after: bool) -> QRect:
    """Write the before or after pixels of `edit` into `image`; returns the changed rect."""
    for region in edit.regions:
        write_region(image, region.rect, zlib.decompress(region.after if after else region.before))
    return edit.bounds


class MaskHistory:
    """Pushes mask edits to a QUndoStack, keeping at most `byte_limit` bytes of history."""

    def __init__(
        self,
        stack: QUndoStack,
        apply: Callable[[MaskEdit, bool], None],
        *,
        byte_limit: int = UNDO_BYTE_LIMIT,
    ) -> None:
        self.stack = stack
        self.byte_limit = byte_limit
        self._apply = apply

    def push(self, edit: MaskEdit) -> None:
        self.stack.push(MaskEditCommand(self._apply, edit))
        self._trim()

    def stored_bytes(self) -> int:
        return sum(self._edit(i).nbytes for i in range(self.stack.count()))

    def _edit(self, index: int) -> MaskEdit:
        command = self.stack.command(index)
        return command.edit  # type: ignore[attr-defined]

    def _trim(self) -> None:
        # QUndoStack cannot drop its oldest commands, so rebuild it without them. This only runs
        # right after a push, when nothing is left to redo.
        edits = [self._edit(i) for i in range(self.stack.count())]
        total = sum(edit.nbytes for edit in edits)
        drop = 0
        while total > self.byte_limit and drop < len(edits) - 1:
            total -= edits[drop].nbytes
            drop += 1
        if not drop:
            return
        self.stack.clear()
        for edit in edits[drop:]:
            self.stack.push(MaskEditCommand(self._apply, edit))
