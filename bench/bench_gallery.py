"""Gallery at scale: first screen of thumbnails and memory for a 100,000-image project.

    python bench/bench_gallery.py [--rows 100000] [--files 300] [--repeat 3] [--keep DIR]

Builds a temporary library once: `--files` real 512x512 PNGs stored through `Library.add_image`,
then catalog rows cloned with SQLAlchemy Core up to `--rows` (each clone points at one of the
real files, with its own id and date, so every row needs its own thumbnail). Each measurement
runs in a fresh process (clean RSS, cold Python caches):

* baseline: a bare QListView (icon mode, uniform sizes) over 100,000 empty rows: first paint.
* cached: thumbnails already in `.thumbnails/`: `set_project` until every tile on the first
  screen shows its thumbnail and has been painted.
* cold: the same with `.thumbnails/` deleted (the thumbnails are made on demand).
* scroll: after `cached`, scroll down through 2,000 rows a screen at a time, waiting for each
  screen's thumbnails; reports the slowest paint and RSS after.
* deep: page 80,000 rows in, then time the longest GUI-thread stall (1 ms heartbeat) while the
  next page arrives and while a new image is added at the top; the baseline is the same with
  QListView's one-pass layout, which lays out every loaded row again each time.

Targets (issue 4): cached under 150 ms, cold under 1 s, RSS with the project open under 300 MB.
Timings on a shared 2-core machine vary: compare the ratios to the baseline from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WINDOW = (1100, 800)  # the gallery's share of a 1440x900 window
TILE = 176


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# --- building the library -------------------------------------------------------------------------


def build_library(root: Path, rows: int, files: int) -> str:
    from PIL import Image, ImageDraw
    from sqlalchemy import insert

    from dlx_art.library.models import ASSET_COLUMNS, ArtAsset, new_id, utc_now
    from dlx_art.library.service import Library

    library = Library.open(root)
    project = library.create_project("Bench 100k")
    base = utc_now()
    templates = []
    started = time.perf_counter()
    for i in range(files):
        color = (20 + i * 7 % 200, 40 + i * 13 % 180, 90 + i * 3 % 160)
        image = Image.new("RGB", (512, 512), color)
        draw = ImageDraw.Draw(image)
        for k in range(6):
            r = 40 + 30 * k
            draw.ellipse((256 - r, 256 - r, 256 + r, 256 + r),
                         outline=((i * 37 + k * 40) % 256, (k * 60) % 256, (i * 11) % 256), width=9)
        import io

        buffer = io.BytesIO()
        image.save(buffer, "PNG", compress_level=1)
        templates.append(library.add_image(project.id, buffer.getvalue(), values={
            "prompt": f"bench image {i}, concentric rings", "createdAt": base - timedelta(
                seconds=i), "seed": i, "steps": 20, "model": "bench"}))
    made_files = time.perf_counter() - started
    table = ArtAsset.__table__
    started = time.perf_counter()
    batch = []
    for n in range(files, rows):
        template = templates[n % files]
        row = {name: getattr(template, name) for name in ASSET_COLUMNS}
        row.update(id=new_id(), createdAt=base - timedelta(seconds=n), prompt=f"bench row {n}")
        batch.append(row)
        if len(batch) == 10_000:
            with library.engine.begin() as con:
                con.execute(insert(table), batch)
            batch = []
    if batch:
        with library.engine.begin() as con:
            con.execute(insert(table), batch)
    inserted = time.perf_counter() - started
    print(f"library: {files} real files in {made_files:.1f} s, {rows - files:,} cloned rows in "
          f"{inserted:.1f} s", flush=True)
    library.close()
    return project.id


def fill_thumbnail_cache(root: Path, project_id: str, first_rows: int) -> None:
    """Thumbnails for the first rows: one real render per file, hard links for the clones."""
    from dlx_art.library.service import Library

    library = Library.open(root)
    started = time.perf_counter()
    by_file: dict[str, Path] = {}
    for asset in library.assets(project_id, limit=first_rows):
        source = by_file.get(asset.filePath)
        target = library.thumbnails.path_for(asset.id)
        if source is None:
            by_file[asset.filePath] = library.make_thumbnail(asset)
        elif not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, target)
    print(f"thumbnail cache: first {first_rows:,} rows in {time.perf_counter() - started:.1f} s",
          flush=True)
    library.close()


# --- measurements (each in its own process) -------------------------------------------------------


def _app():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    import dlx_art.gui.gallery  # noqa: F401 - imported before timing starts
    from dlx_art.app import tune_process

    tune_process()  # the app's process-wide settings (the gallery used to make them itself)
    return QApplication.instance() or QApplication([])


def measure_baseline(rows: int) -> dict[str, float]:
    app = _app()
    from PySide6.QtCore import QAbstractListModel, QModelIndex, QSize, Qt
    from PySide6.QtWidgets import QListView

    class Empty(QAbstractListModel):
        def rowCount(self, parent=QModelIndex()):  # noqa: B008, N802
            return 0 if parent.isValid() else rows

        def data(self, index, role=Qt.ItemDataRole.DisplayRole):
            return "" if role == Qt.ItemDataRole.DisplayRole else None

    painted: list[float] = []

    class View(QListView):
        def paintEvent(self, event):  # noqa: N802
            super().paintEvent(event)
            painted.append(time.perf_counter())

    before = rss_mb()
    started = time.perf_counter()
    view = View()
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setUniformItemSizes(True)
    view.setGridSize(QSize(TILE + 8, TILE + 8))
    model = Empty()
    view.setModel(model)
    view.resize(*WINDOW)
    view.show()
    while not painted:
        app.processEvents()
    first_paint = (painted[0] - started) * 1000
    return {"first_paint_ms": first_paint, "rss_mb": rss_mb(), "rss_before_mb": before}


def measure_deep(root: str, project_id: str, deep_rows: int, layout: str) -> dict[str, float]:
    """Page `deep_rows` rows into the gallery, then the next page and a new image at the top,
    with a 1 ms heartbeat on the GUI thread: the longest stall in each part."""
    app = _app()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QListView

    from dlx_art.gui.gallery import GalleryWidget
    from dlx_art.library.service import Library

    library = Library.open(root)
    gallery = GalleryWidget(library)
    gallery.set_thumbnail_size(TILE)
    gallery.resize(*WINDOW)
    if layout == "single":
        gallery.view.setLayoutMode(QListView.LayoutMode.SinglePass)
    gallery.show()
    gallery.set_project(project_id)
    model = gallery.model
    state = {"last": time.perf_counter(), "max": 0.0}

    def beat() -> None:
        now = time.perf_counter()
        state["max"] = max(state["max"], now - state["last"])
        state["last"] = now

    timer = QTimer()
    timer.setInterval(1)
    timer.timeout.connect(beat)

    def run_for(seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            app.processEvents()

    def stall(action) -> float:  # noqa: ANN001
        run_for(0.05)
        state["max"], state["last"] = 0.0, time.perf_counter()
        timer.start()
        action()
        run_for(0.6)  # batched layout finishes in the background
        timer.stop()
        return state["max"] * 1000

    started = time.perf_counter()
    while model.rowCount() < deep_rows and model.canFetchMore():
        model.fetchMore()
        app.processEvents()
    paged_s = time.perf_counter() - started
    next_page = stall(model.fetchMore)
    newest = model.asset_at(0)
    import dataclasses

    from dlx_art.library.models import new_id, utc_now

    fresh = dataclasses.replace(newest, id=new_id(), createdAt=utc_now())
    new_image = stall(lambda: model.add_assets([fresh]))
    gallery.shutdown()
    library.close()
    return {"rows": model.rowCount(), "paged_s": paged_s, "next_page_ms": next_page,
            "new_image_ms": new_image}


def measure_gallery(root: str, project_id: str, scroll_rows: int) -> dict[str, float]:
    app = _app()
    from dlx_art.gui.gallery import GalleryWidget
    from dlx_art.gui.gallery import model as gallery_model
    from dlx_art.gui.gallery import view as gallery_view
    from dlx_art.gui.gallery.model import Role
    from dlx_art.library.service import Library

    paints: list[tuple[float, float]] = []
    flushes: list[float] = []
    original = gallery_view.GalleryView.paintEvent
    original_flush = gallery_model.GalleryModel._flush_thumbnails

    def timed_paint(self, event):  # noqa: ANN001
        start = time.perf_counter()
        original(self, event)
        paints.append((start, time.perf_counter()))

    def timed_flush(self):  # noqa: ANN001
        flushes.append(time.perf_counter())
        original_flush(self)

    gallery_view.GalleryView.paintEvent = timed_paint
    gallery_model.GalleryModel._flush_thumbnails = timed_flush
    before = rss_mb()
    library = Library.open(root)
    gallery = GalleryWidget(library)
    gallery.set_thumbnail_size(TILE)
    gallery.resize(*WINDOW)
    gallery.show()
    loader = gallery.loader
    while not (paints and loader.prepared):  # the widget started and on screen, as in the window
        app.processEvents()

    def screen_ready() -> bool:
        rows = gallery.view.visible_rows()
        if not rows:
            return False
        model = gallery.model
        return all(model.index(r, 0).data(Role.thumbnail_state) in ("ready", "broken")
                   for r in rows)

    def wait_painted(started: float, timeout: float = 30.0) -> float:
        """Until the visible tiles have thumbnails and were painted after the last arrived."""
        while time.perf_counter() - started < timeout:
            app.processEvents()
            if screen_ready() and not gallery.model._flush_timer.isActive():
                since = max([started, *flushes[-1:]])
                if paints and paints[-1][0] >= since:
                    return paints[-1][1]
            time.sleep(0.0005)
        raise TimeoutError("the screen of thumbnails never finished")

    started = time.perf_counter()
    gallery.set_project(project_id)
    model_ready = time.perf_counter()
    done = wait_painted(started)
    result = {
        "set_project_ms": (model_ready - started) * 1000,
        "first_screen_ms": (done - started) * 1000,
        "visible_tiles": len(gallery.view.visible_rows()),
        "loads": loader.loads,
        "total_rows": gallery.model.total,
        "rss_open_mb": rss_mb(),
        "rss_before_mb": before,
    }
    if scroll_rows:
        bar = gallery.view.verticalScrollBar()
        paints.clear()
        scroll_started = time.perf_counter()
        steps = 0
        while gallery.view.visible_rows().start < scroll_rows:
            bar.setValue(bar.value() + gallery.view.viewport().height())
            steps += 1
            wait_painted(time.perf_counter())
        durations = [(end - start) * 1000 for start, end in paints]
        result.update({
            "scroll_ms": (time.perf_counter() - scroll_started) * 1000,
            "scroll_screens": steps,
            "rows_loaded": gallery.model.rowCount(),
            "paint_max_ms": max(durations),
            "paint_median_ms": statistics.median(durations),
            "paints": len(durations),
            "paints_over_16ms": sum(d > 16 for d in durations),
            "rss_scrolled_mb": rss_mb(),
            "pixmap_cache_mb": loader.cache_bytes / 2**20,
            "pixmap_cache_count": loader.cache_count,
            "loads_total": loader.loads,
        })
    gallery.shutdown()
    library.close()
    return result


def run_phase(args: list[str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    if out.returncode != 0:
        raise SystemExit(f"phase {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scroll-rows", type=int, default=2000)
    parser.add_argument("--deep-rows", type=int, default=80_000,
                        help="rows paged in before timing the next page (0: skip)")
    parser.add_argument("--layout", default="batched", help=argparse.SUPPRESS)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the library here")
    parser.add_argument("--phase", choices=("baseline", "gallery", "deep"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--project", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase == "baseline":
        print(json.dumps(measure_baseline(args.rows)))
        return
    if args.phase == "gallery":
        print(json.dumps(measure_gallery(args.root, args.project, args.scroll_rows)))
        return
    if args.phase == "deep":
        print(json.dumps(measure_deep(args.root, args.project, args.deep_rows, args.layout)))
        return

    temp = None
    if args.keep is not None:
        root = args.keep
        marker = root / "bench-project.txt"
        if marker.exists():
            project_id = marker.read_text().strip()
        else:
            project_id = build_library(root, args.rows, args.files)
            marker.write_text(project_id)
    else:
        temp = tempfile.mkdtemp(prefix="dlx-bench-gallery-")
        root = Path(temp)
        project_id = build_library(root, args.rows, args.files)
    thumbs = root / ".thumbnails"
    try:
        baseline = [run_phase(["--phase", "baseline", "--rows", str(args.rows)])
                    for _ in range(args.repeat)]
        cold = []
        for _ in range(args.repeat):
            shutil.rmtree(thumbs, ignore_errors=True)
            cold.append(run_phase(["--phase", "gallery", "--root", str(root), "--project",
                                   project_id, "--scroll-rows", "0"]))
        fill_thumbnail_cache(root, project_id, args.scroll_rows + 600)
        cached = [run_phase(["--phase", "gallery", "--root", str(root), "--project", project_id,
                             "--scroll-rows", "0"]) for _ in range(args.repeat)]
        scrolled = run_phase(["--phase", "gallery", "--root", str(root), "--project",
                              project_id, "--scroll-rows", str(args.scroll_rows)])
        deep = {layout: run_phase(["--phase", "deep", "--root", str(root), "--project",
                                   project_id, "--deep-rows", str(args.deep_rows),
                                   "--layout", layout])
                for layout in ("batched", "single")} if args.deep_rows else {}
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)

    def med(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    base_paint = med(baseline, "first_paint_ms")
    base_rss = med(baseline, "rss_mb")
    print()
    print(f"Gallery bench: {cached[0]['total_rows']:,} images in one project, "
          f"{WINDOW[0]}x{WINDOW[1]} gallery, {TILE} px tiles, "
          f"{cached[0]['visible_tiles']} tiles on the first screen; medians of {args.repeat}")
    print(f"{'measure':<52}{'value':>12}{'baseline':>12}{'ratio':>8}")
    rows = [
        ("baseline: bare QListView, 100k empty rows, first paint", base_paint, None, None),
        ("set_project (first page of 200; count in background)", med(cached, "set_project_ms"),
         None, None),
        ("first screen of thumbnails, cached (target < 150 ms)",
         med(cached, "first_screen_ms"), base_paint, med(cached, "first_screen_ms") / base_paint),
        ("first screen of thumbnails, cold (target < 1000 ms)",
         med(cold, "first_screen_ms"), base_paint, med(cold, "first_screen_ms") / base_paint),
        ("RSS with the project open, MB (target < 300)", med(cached, "rss_open_mb"), base_rss,
         med(cached, "rss_open_mb") / base_rss),
    ]
    if args.scroll_rows:
        rows += [
            (f"RSS after scrolling {args.scroll_rows:,} rows, MB", scrolled["rss_scrolled_mb"],
             base_rss, scrolled["rss_scrolled_mb"] / base_rss),
            ("  pixmap cache after the scroll, MB", scrolled["pixmap_cache_mb"], None, None),
            ("  slowest paint while scrolling, ms", scrolled["paint_max_ms"], None, None),
            ("  median paint while scrolling, ms", scrolled["paint_median_ms"], None, None),
            ("  paints over 16 ms while scrolling (of all paints)",
             scrolled["paints_over_16ms"], scrolled["paints"], None),
        ]
    if deep:
        ours, single = deep["batched"], deep["single"]
        rows += [
            (f"GUI stall: next page at {ours['rows'] - 200:,} rows, ms", ours["next_page_ms"],
             single["next_page_ms"],
             ours["next_page_ms"] / single["next_page_ms"]),
            (f"GUI stall: new image atop {ours['rows']:,} rows, ms", ours["new_image_ms"],
             single["new_image_ms"], ours["new_image_ms"] / single["new_image_ms"]),
            (f"  paging {ours['rows'] - 200:,} rows in, s", ours["paged_s"], single["paged_s"],
             ours["paged_s"] / single["paged_s"]),
        ]
    for label, value, base, ratio in rows:
        base_text = f"{base:12.1f}" if base is not None else " " * 12
        ratio_text = f"{ratio:7.1f}x" if ratio is not None else ""
        print(f"{label:<52}{value:12.1f}{base_text}{ratio_text}")
    if args.scroll_rows:
        print(f"scroll: {scrolled['scroll_screens']} screens, {scrolled['rows_loaded']:,} rows "
              f"paged in, {scrolled['loads_total']:,} thumbnails loaded, "
              f"{scrolled['pixmap_cache_count']} pixmaps cached, {scrolled['scroll_ms']:.0f} ms")
    print("cold runs (ms):", ", ".join(f"{r['first_screen_ms']:.0f}" for r in cold),
          "| cached runs (ms):", ", ".join(f"{r['first_screen_ms']:.0f}" for r in cached))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
