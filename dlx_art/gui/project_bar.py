"""The active-project combo box and the project dialogs (new, rename, archive).

Projects are listed most recently used first; archived ones only with "Show archived", after
the active ones. The catalog calls made here are single small SQLite statements (and a folder
rename), fast enough for the GUI thread.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, Signal, Slot
from PySide6.QtGui import QAction, QFont
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dlx_art.errors import DlxError, NotFound
from dlx_art.gui.tasks import Lane, TaskRunner, default_runner

log = logging.getLogger("dlx_art.gui.project_bar")

NEW_ITEM = "__new__"


class ProjectNameDialog(QDialog):
    """Asks for a project name (and a description for new projects); shows errors inline.

    On OK, `work(name, description)` runs on a worker thread (renaming a project of 100,000
    images rewrites 100,000 paths: never on the GUI thread) while the dialog shows that it is
    busy; then `finish(result)` runs on the GUI thread and the dialog closes. A `DlxError` from
    `work` is shown in the dialog, which stays open so the person can fix the name.
    """

    def __init__(self, title: str, work: Any, finish: Any, *, name: str = "",
                 with_description: bool, ok_text: str, busy_text: str,
                 parent: QWidget | None = None, lane: Lane | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("projectNameDialog")
        self._lane = lane or default_runner().writer
        self.setWindowTitle(title)
        self.setModal(True)
        self._work = work
        self._finish = finish
        self._busy_text = busy_text
        self.busy = False
        self.result_value: Any = None
        self.name_edit = QLineEdit(name)
        self.name_edit.setObjectName("projectNameEdit")
        self.name_edit.setPlaceholderText("e.g. Book cover, Character studies")
        self.name_edit.setMinimumWidth(320)
        self.name_edit.selectAll()
        self.description_edit = QLineEdit()
        self.description_edit.setObjectName("projectDescriptionEdit")
        self.description_edit.setPlaceholderText("Optional")
        self.error_label = QLabel()
        self.error_label.setObjectName("projectNameError")
        self.error_label.setProperty("role", "error")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        if with_description:
            form.addRow("Description", self.description_edit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        self.name_edit.textChanged.connect(self._on_name_edit_text_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 12)
        layout.setSpacing(10)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self._on_name_edit_text_changed(name)

    @Slot(str)
    def _on_name_edit_text_changed(self, text: str) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(text.strip()))
        self.error_label.hide()

    @Slot()
    def _submit(self) -> None:
        if self.busy:
            return
        self._set_busy(True)
        self._lane.run(self._work, self.name_edit.text(),
                       self.description_edit.text().strip() or None, owner=self,
                       on_done=self._on_done, on_error=self._on_error)

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        for widget in (self.name_edit, self.description_edit, self.buttons):
            widget.setEnabled(not busy)
        if busy:
            self.error_label.setProperty("role", "hint")
            self.error_label.setText(self._busy_text)
            self.error_label.show()
        else:
            self.error_label.setProperty("role", "error")
        self.error_label.style().unpolish(self.error_label)
        self.error_label.style().polish(self.error_label)

    def _on_done(self, result: Any) -> None:
        self._set_busy(False)
        self.error_label.hide()
        self.result_value = result
        self._finish(result)
        self.accept()

    def _on_error(self, exc: BaseException) -> None:
        self._set_busy(False)
        if isinstance(exc, DlxError):
            message = exc.user_message
        else:
            log.error("project dialog failed", exc_info=exc)
            message = f"Something went wrong: {exc}"
        self.error_label.setText(message)
        self.error_label.show()
        self.name_edit.setFocus()

    def reject(self) -> None:
        if not self.busy:  # the work in flight finishes either way: wait for it
            super().reject()


def _ask(dialog: ProjectNameDialog) -> Any | None:
    """Run a project dialog; what its work returned, or None if it was cancelled."""
    dialog.exec()
    value = dialog.result_value
    dialog.deleteLater()
    return value


class ProjectBar(QWidget):
    """Toolbar widget: "Project" label, `projectCombo` and a menu button with project actions.

    Signals:
        project_changed(object): the active `ProjectInfo`, or None when there is none.
        message(str): something to show in the status bar.
    """

    project_changed = Signal(object)
    message = Signal(str)

    def __init__(self, library: Any = None, parent: QWidget | None = None, *,
                 runner: TaskRunner | None = None) -> None:
        """`library` may be None until it is open; then call `set_library`."""
        super().__init__(parent)
        self.setObjectName("projectBar")
        self._writer = (runner or default_runner()).writer  # project writes, in order
        self.library = library
        self._projects: list[Any] = []
        self._current_id: str | None = None

        label = QLabel("Project")
        label.setProperty("role", "toolbarLabel")
        self.combo = QComboBox()
        self.combo.setObjectName("projectCombo")
        self.combo.setMinimumContentsLength(22)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setAccessibleName("Active project")
        self.combo.setPlaceholderText("No project yet")
        self.combo.setToolTip("The active project: new images are saved here")
        label.setBuddy(self.combo)

        self.new_action = QAction("&New Project…", self)
        self.new_action.setObjectName("newProjectAction")
        self.new_action.setShortcut("Ctrl+Shift+N")
        self.new_action.triggered.connect(self.prompt_new_project)
        self.rename_action = QAction("&Rename Project…", self)
        self.rename_action.setObjectName("renameProjectAction")
        self.rename_action.triggered.connect(self.prompt_rename)
        self.archive_action = QAction("&Archive Project", self)
        self.archive_action.setObjectName("archiveProjectAction")
        self.archive_action.triggered.connect(self.toggle_archived)
        self.show_archived_action = QAction("Show &Archived Projects", self)
        self.show_archived_action.setObjectName("showArchivedAction")
        self.show_archived_action.setCheckable(True)
        self.show_archived_action.toggled.connect(self._on_show_archived_toggled)

        menu = QMenu(self)
        menu.addAction(self.new_action)
        menu.addAction(self.rename_action)
        menu.addAction(self.archive_action)
        menu.addSeparator()
        menu.addAction(self.show_archived_action)
        self.menu_button = QToolButton()
        self.menu_button.setObjectName("projectMenuButton")
        self.menu_button.setText("⋯")
        self.menu_button.setToolTip("Project actions")
        self.menu_button.setAccessibleName("Project actions")
        self.menu_button.setMenu(menu)
        self.menu_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.setSpacing(6)
        layout.addWidget(label)
        layout.addWidget(self.combo)
        layout.addWidget(self.menu_button)

        self.combo.currentIndexChanged.connect(self._on_combo_activated)

    # --- queries ------------------------------------------------------------------------------

    def current_project(self) -> Any | None:
        for project in self._projects:
            if project.id == self._current_id:
                return project
        return None

    def projects(self) -> list[Any]:
        return list(self._projects)

    # --- commands -----------------------------------------------------------------------------

    def set_library(self, library: Any, select_id: str | None = None) -> None:
        """Use another library: list its projects and select `select_id` (else the MRU one).

        None: no library (while one opens): no projects.
        """
        self.library = library
        if library is None:  # let go of the old library; the next one is being opened
            self._projects = []
            with QSignalBlocker(self.combo):
                self.combo.clear()
            self._set_current(None)
            return
        self._current_id = None
        self.reload(select_id=select_id)

    def reload(self, select_id: str | None = None) -> None:
        """Reload the list; select `select_id`, else keep the current project, else the MRU one."""
        wanted = select_id or self._current_id
        active = self.library.list_projects(include_archived=False)
        archived: list[Any] = []
        if self.show_archived_action.isChecked():
            archived = [p for p in self.library.list_projects(include_archived=True)
                        if p.status == "archived"]
        elif wanted and not any(p.id == wanted for p in active):
            # the wanted project is archived: show it anyway rather than switching away
            try:
                project = self.library.get_project(wanted)
            except NotFound:
                project = None
            if project is not None and project.status == "archived" and select_id:
                archived = [project]
        self._projects = active + archived
        with QSignalBlocker(self.combo):
            self.combo.clear()
            italic = QFont(self.combo.font())
            italic.setItalic(True)
            for project in active:
                self.combo.addItem(project.name, project.id)
                self.combo.setItemData(self.combo.count() - 1, project.description or project.name,
                                       Qt.ItemDataRole.ToolTipRole)
            for project in archived:
                self.combo.addItem(f"{project.name} (archived)", project.id)
                self.combo.setItemData(self.combo.count() - 1, italic, Qt.ItemDataRole.FontRole)
            if self._projects:
                self.combo.insertSeparator(self.combo.count())
            self.combo.addItem("New project…", NEW_ITEM)
        ids = [p.id for p in self._projects]
        target = wanted if wanted in ids else (ids[0] if ids else None)
        self._set_current(target)

    def select_project(self, project_id: str) -> bool:
        if any(p.id == project_id for p in self._projects):
            self._set_current(project_id)
        else:
            self.reload(select_id=project_id)
        return self._current_id == project_id

    def create_project(self, name: str, description: str | None = None) -> Any:
        """Create a project and make it the active one (synchronously: for scripts and tests;
        the dialogs do the library work on a worker thread)."""
        return self._created(self.library.create_project(name, description=description))

    def _created(self, project: Any) -> Any:
        log.info("created project %s", project.id)
        self.reload(select_id=project.id)
        self.message.emit(f"Created project “{project.name}”.")
        return project

    def rename_current(self, new_name: str) -> Any:
        project = self.current_project()
        if project is None:
            raise NotFound("There is no project to rename.")
        return self._renamed(self.library.rename_project(project.id, new_name))

    def _renamed(self, renamed: Any) -> Any:
        self.reload(select_id=renamed.id)
        self.project_changed.emit(self.current_project())
        self.message.emit(f"Renamed to “{renamed.name}”.")
        return renamed

    def set_current_archived(self, archived: bool) -> Any:
        project = self.current_project()
        if project is None:
            return None
        return self._archived_changed(self.library.set_archived(project.id, archived))

    def _archived_changed(self, updated: Any) -> Any:
        archived = updated.status == "archived"
        if archived and not self.show_archived_action.isChecked():
            self._current_id = None
            self.reload()
            self.message.emit(f"Archived “{updated.name}”. Show it again with Project actions → "
                              "Show Archived Projects.")
        else:
            self.reload(select_id=updated.id)
            self.project_changed.emit(self.current_project())
            self.message.emit(f"“{updated.name}” is {'archived' if archived else 'active again'}.")
        return updated

    @Slot()
    def prompt_new_project(self) -> Any | None:
        library = self.library
        dialog = ProjectNameDialog(
            "New Project", lambda name, description: library.create_project(
                name, description=description),
            self._created, with_description=True, ok_text="Create",
            busy_text="Creating the project…", parent=self.window(), lane=self._writer)
        return _ask(dialog)

    @Slot()
    def prompt_rename(self) -> Any | None:
        project = self.current_project()
        if project is None:
            return None
        library, project_id = self.library, project.id
        dialog = ProjectNameDialog(
            "Rename Project", lambda name, _d: library.rename_project(project_id, name),
            self._renamed, name=project.name, with_description=False, ok_text="Rename",
            busy_text="Renaming the project and its folder…", parent=self.window(),
            lane=self._writer)
        return _ask(dialog)

    @Slot()
    def toggle_archived(self) -> None:
        project = self.current_project()
        if project is None:
            return
        self.archive_action.setEnabled(False)  # until this one is done

        def failed(exc: BaseException) -> None:
            self._update_actions()
            self.message.emit(exc.user_message if isinstance(exc, DlxError) else
                              f"Could not change the project: {exc}")

        def done(updated: Any) -> None:
            self._archived_changed(updated)
            self._update_actions()

        self._writer.run(self.library.set_archived, project.id, project.status != "archived",
                         owner=self, on_done=done, on_error=failed)

    # --- internals ----------------------------------------------------------------------------

    def _set_current(self, project_id: str | None) -> None:
        changed = project_id != self._current_id
        self._current_id = project_id
        with QSignalBlocker(self.combo):
            index = self.combo.findData(project_id) if project_id else -1
            self.combo.setCurrentIndex(index)
        self._update_actions()
        if changed:
            project = self.current_project()
            if project is not None:  # a small write, but a commit waits for the disk
                self._writer.run(self.library.touch_project, project.id, owner=self,
                                 on_error=lambda exc: log.info(
                                     "could not mark %s as used: %s", project.id, exc))
            self.project_changed.emit(project)

    def _update_actions(self) -> None:
        project = self.current_project()
        has = project is not None
        self.rename_action.setEnabled(has)
        self.archive_action.setEnabled(has)
        archived = has and project.status == "archived"
        self.archive_action.setText("Un&archive Project" if archived else "&Archive Project")

    @Slot(int)
    def _on_combo_activated(self, index: int) -> None:
        data = self.combo.itemData(index)
        if data == NEW_ITEM:
            with QSignalBlocker(self.combo):  # back to the current project until one is created
                self.combo.setCurrentIndex(self.combo.findData(self._current_id)
                                           if self._current_id else -1)
            self.prompt_new_project()
            return
        if isinstance(data, str):
            self._set_current(data)

    @Slot(bool)
    def _on_show_archived_toggled(self, _on: bool) -> None:
        self.reload()
