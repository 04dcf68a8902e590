"""The window follows the catalog live: what other processes (or this one) changed shows up.

`LiveUpdates` listens to `Session.catalog_changed` (a `library.changes.Changes`, polled every
250 ms off the GUI thread) and brings the gallery and the project bar up to date:

* new images of the shown project are added (the gallery skips those it already has, such as
  this window's own results); changed ones are updated in place, or leave the view when they
  no longer match it (trashed, unfavourited under the favourites filter);
* images deleted from the catalog (Empty Trash, elsewhere) disappear;
* the project list is reloaded when the projects differ from what the bar shows (a project
  created, renamed, archived or deleted elsewhere); a project merely marked as used does not
  reload it, so switching projects here never reshuffles the list;
* jobs queued or changed by any program (`Changes.jobs`) go to the job list
  (`JobController.follow`), which also wakes the window's runner when it holds the queue;
* `reset` (the watcher fell behind its log) reloads the gallery, the project list and the
  job list.

The catalog reads run on the session's reads lane; only the widget updates run here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject

if TYPE_CHECKING:
    from dlx_art.gui.gallery import GalleryWidget
    from dlx_art.gui.project_bar import ProjectBar
    from dlx_art.gui.session import Session
    from dlx_art.library.changes import Changes
    from dlx_art.library.records import AssetInfo, ProjectInfo

log = logging.getLogger("dlx_art.gui.live_updates")


def _project_key(project: ProjectInfo) -> tuple[str, str | None, str]:
    return (project.name, project.description, project.status)


def _within_loaded(model: Any, asset: AssetInfo) -> bool:
    """Whether `asset` sorts among the rows loaded so far (else a later page brings it)."""
    if not model.canFetchMore():
        return True
    last = model.asset_at(model.rowCount() - 1)
    return last is None or (model.query.order == "newest" and asset.createdAt >= last.createdAt)


class LiveUpdates(QObject):
    """Applies a session's catalog changes to a gallery and a project bar (see module doc)."""

    def __init__(self, session: Session, gallery: GalleryWidget, project_bar: ProjectBar,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("liveUpdates")
        self.session = session
        self.gallery = gallery
        self.project_bar = project_bar
        session.catalog_changed.connect(self.apply)

    def apply(self, changes: Changes) -> None:
        """Bring the views up to date with `changes` (reads run on the reads lane)."""
        library = self.session.library
        if library is None:
            return
        if changes.jobs or changes.reset:  # the job list follows every program's jobs
            self.session.jobs.follow(changes)
        if self.gallery.library is not library:
            return
        if changes.reset:
            if self.gallery.project_id is not None:
                self.gallery.refresh()
            self._check_projects(library)
            return
        if changes.deleted_assets:
            self.gallery.remove_assets(changes.deleted_assets)
        ids = list(changes.new_assets) + list(changes.changed_assets)
        if ids and self.gallery.project_id is not None:
            new = set(changes.new_assets)
            self.session.runner.reads.run(
                library.get_assets, ids, owner=self,
                on_done=lambda assets: self._apply_assets(library, new, assets),
                on_error=lambda exc: log.info("could not read changed images: %s", exc))
        if changes.projects or changes.deleted_projects:
            self._check_projects(library)

    def _apply_assets(self, library: Any, new: set[str], assets: list[AssetInfo]) -> None:
        gallery = self.gallery
        if library is not self.session.library or gallery.library is not library:
            return
        model = gallery.model
        update: list[AssetInfo] = []
        refresh = False
        for asset in assets:
            if asset.projectId != gallery.project_id:
                continue
            row = model.row_of(asset.id)
            if row >= 0:
                if model.asset_at(row) != asset:  # unchanged records cost no repaint
                    update.append(asset)
            elif asset.id in new:
                update.append(asset)  # placed where the order puts new images
            elif model.accepts(asset) and _within_loaded(model, asset):
                refresh = True  # an older image now matches (restored elsewhere): re-read
        if update:
            gallery.add_assets(update)
        if refresh:
            gallery.refresh()

    def _check_projects(self, library: Any) -> None:
        self.session.runner.reads.run(
            library.list_projects, include_archived=True, owner=self,
            on_done=lambda projects: self._apply_projects(library, projects),
            on_error=lambda exc: log.info("could not read the projects: %s", exc))

    def _apply_projects(self, library: Any, projects: list[ProjectInfo]) -> None:
        bar = self.project_bar
        if library is not self.session.library or bar.library is not library:
            return
        now = {p.id: _project_key(p) for p in projects}
        shown = {p.id: _project_key(p) for p in bar.projects()}
        active = {pid for pid, key in now.items() if key[2] != "archived"}
        if any(now.get(pid) != key for pid, key in shown.items()) or not active <= set(shown):
            bar.reload()
