"""The studio window's actions and menus (built once; the window connects the rest)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence

from dlx_art import APP_NAME
from dlx_art.gui import theme

if TYPE_CHECKING:
    from dlx_art.gui.main_window import MainWindow


class WindowActions:
    """The attributes `build_actions` sets on the window (declared for readers and checkers)."""

    _generate_shortcuts: list[QKeySequence]
    about_action: QAction
    cancel_action: QAction
    cancel_all_action: QAction
    canvas_action: QAction
    canvas_tab_action: QAction
    copy_action: QAction
    details_dock_action: QAction
    favorite_action: QAction
    gallery_tab_action: QAction
    generate_action: QAction
    import_action: QAction
    jobs_dock_action: QAction
    library_folder_action: QAction
    log_folder_action: QAction
    prompt_dock_action: QAction
    quit_action: QAction
    refresh_action: QAction
    reuse_action: QAction
    settings_action: QAction
    theme_actions: dict[str, QAction]
    theme_group: QActionGroup
    trash_action: QAction
    trash_view_action: QAction
    zoom_in_action: QAction
    zoom_out_action: QAction


def add_action(
    window: MainWindow,
    text: str,
    name: str,
    slot: Any = None,
    shortcut: Any = None,
    *,
    checkable: bool = False,
    tip: str = "",
) -> QAction:
    """A window action (object name `name`) with optional slot, shortcut(s) and tip."""
    action = QAction(text, window)
    action.setObjectName(name)
    if shortcut is not None:
        if isinstance(shortcut, list):
            action.setShortcuts(shortcut)
        else:
            action.setShortcut(shortcut)
    action.setCheckable(checkable)
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    if slot is not None:
        action.triggered.connect(slot)
    window.addAction(action)
    return action


def build_actions(window: MainWindow) -> None:
    """The window's actions, as attributes of the window (`window.generate_action`...)."""
    key = QKeySequence.StandardKey
    pb = window.project_bar
    pb.new_action.setShortcuts(QKeySequence.keyBindings(key.New))
    window.import_action = add_action(
        window,
        "&Import Images…",
        "importAction",
        window.prompt_import,
        "Ctrl+I",
        tip="Copy image files into the active project",
    )
    prefs = QKeySequence.keyBindings(key.Preferences) or [QKeySequence("Ctrl+,")]
    window.settings_action = add_action(
        window, "&Settings…", "settingsAction", window.open_settings, prefs
    )
    window.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
    window.quit_action = add_action(
        window,
        "&Quit",
        "quitAction",
        window.close,
        QKeySequence.keyBindings(key.Quit) or [QKeySequence("Ctrl+Q")],
    )
    window.quit_action.setMenuRole(QAction.MenuRole.QuitRole)

    # Edit: the gallery view handles these keys itself when it has the focus; the menu
    # entries show them and work from the menu (no window-wide single-key shortcuts that
    # would fire while typing in a combo box).
    window.copy_action = add_action(
        window, "&Copy Image", "copyAction", lambda: window.gallery.copy_selected()
    )
    window.favorite_action = add_action(
        window, "&Favorite", "favoriteAction", lambda: window.gallery.favorite_selected()
    )
    window.trash_action = add_action(
        window, "Move to &Trash", "trashAction", lambda: window.gallery.trash_selected()
    )
    for action, seq in (
        (window.copy_action, QKeySequence(key.Copy)),
        (window.favorite_action, QKeySequence("F")),
        (window.trash_action, QKeySequence(key.Delete)),
    ):
        action.setShortcut(seq)
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        window.removeAction(action)  # added to the gallery in MainWindow._connect
    window.reuse_action = add_action(
        window,
        "&Reuse Parameters",
        "reuseAction",
        window._on_reuse_triggered,
        "Ctrl+R",
        tip="Fill the prompt panel with the selected image's parameters",
    )
    window.canvas_action = add_action(
        window,
        "Open in &Canvas",
        "openCanvasAction",
        window._on_open_canvas_triggered,
        "Ctrl+E",
        tip="Refine the selected image: inpaint or img2img",
    )

    # Generate
    window.generate_action = add_action(
        window,
        "&Generate",
        "generateAction",
        window.generate,
        [QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")],
    )
    window.generate_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    window._generate_shortcuts = window.generate_action.shortcuts()
    window.cancel_action = add_action(
        window,
        "&Cancel Running Job",
        "cancelAction",
        window._on_cancel_triggered,
        QKeySequence(key.Cancel) if not QKeySequence(key.Cancel).isEmpty() else "Esc",
        tip="Cancel the running job (Esc works in the Jobs panel)",
    )
    # Esc means "clear / close" in a text field or a popup: cancelling a long job must be a
    # deliberate act, so the key only cancels where nothing else can be meant (the Jobs panel);
    # the menu entry and the panel's Cancel button work from anywhere.
    window.cancel_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    window.removeAction(window.cancel_action)
    window.job_panel.addAction(window.cancel_action)
    window.cancel_all_action = add_action(
        window, "Cancel &All Jobs", "cancelAllAction", window.jobs.cancel_all
    )
    window.refresh_action = add_action(
        window,
        "&Check Backends",
        "refreshBackendsAction",
        window.refresh_backends,
        QKeySequence.keyBindings(key.Refresh) or "F5",
    )

    # View
    window.theme_group = QActionGroup(window)
    window.theme_actions = {}
    for name, label in theme.THEME_LABELS.items():
        action = add_action(window, label, f"theme_{name}", checkable=True)
        action.setData(name)
        window.theme_group.addAction(action)
        window.theme_actions[name] = action
    current = window.theme_actions.get(window.context.settings.theme, window.theme_actions["dark"])
    current.setChecked(True)
    window.theme_group.triggered.connect(window._on_theme_group_triggered)
    window.prompt_dock_action = window.prompt_dock.toggleViewAction()
    window.prompt_dock_action.setText("&Generate Panel")
    window.prompt_dock_action.setShortcut("Ctrl+1")
    window.jobs_dock_action = window.jobs_dock.toggleViewAction()
    window.jobs_dock_action.setText("&Jobs Panel")
    window.jobs_dock_action.setShortcut("Ctrl+2")
    window.details_dock_action = window.details_dock.toggleViewAction()
    window.details_dock_action.setText("&Details Panel")
    window.details_dock_action.setShortcut("Ctrl+3")
    window.zoom_in_action = add_action(
        window, "&Larger Thumbnails", "zoomInAction", lambda: window.gallery.zoom(1)
    )
    window.zoom_out_action = add_action(
        window, "&Smaller Thumbnails", "zoomOutAction", lambda: window.gallery.zoom(-1)
    )
    for action, standard in (
        (window.zoom_in_action, key.ZoomIn),
        (window.zoom_out_action, key.ZoomOut),
    ):
        action.setShortcut(QKeySequence(standard))
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        window.removeAction(action)  # added to the gallery in MainWindow._connect
    window.trash_view_action = add_action(
        window, "Show &Trash", "showTrashAction", window._on_show_trash_toggled, checkable=True
    )
    window.gallery_tab_action = add_action(
        window,
        "&Gallery",
        "galleryTabAction",
        lambda: window.tabs.setCurrentWidget(window.gallery),
        "Ctrl+Shift+G",
    )
    window.canvas_tab_action = add_action(
        window,
        "Ca&nvas",
        "canvasTabAction",
        lambda: window.tabs.setCurrentWidget(window.canvas),
        "Ctrl+Shift+C",
    )

    # Help
    window.about_action = add_action(window, f"&About {APP_NAME}", "aboutAction", window.show_about)
    window.about_action.setMenuRole(QAction.MenuRole.AboutRole)
    window.shortcuts_action = add_action(
        window, "&Keyboard Shortcuts", "keyboardShortcutsAction",
        lambda: _show_shortcuts(window), "Ctrl+F1")
    window.log_folder_action = add_action(
        window,
        "Open &Log Folder",
        "openLogFolderAction",
        lambda: window._open_folder(window.context.paths.log_dir),
    )
    window.library_folder_action = add_action(
        window,
        "Open Li&brary Folder",
        "openLibraryFolderAction",
        lambda: window._open_folder(window.library_root()),
    )


def build_menus(window: MainWindow) -> None:
    """File, Edit, Generate, View and Help."""
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addAction(window.project_bar.new_action)
    file_menu.addAction(window.project_bar.rename_action)
    file_menu.addAction(window.project_bar.archive_action)
    file_menu.addAction(window.project_bar.show_archived_action)
    file_menu.addSeparator()
    file_menu.addAction(window.import_action)
    file_menu.addSeparator()
    file_menu.addAction(window.settings_action)
    file_menu.addSeparator()
    file_menu.addAction(window.quit_action)

    edit_menu = bar.addMenu("&Edit")
    edit_menu.addAction(window.copy_action)
    edit_menu.addAction(window.favorite_action)
    edit_menu.addAction(window.trash_action)
    edit_menu.addAction(window.gallery.trash_commands.undo_action)
    edit_menu.addAction(window.gallery.trash_commands.empty_action)
    edit_menu.addSeparator()
    edit_menu.addAction(window.reuse_action)
    edit_menu.addAction(window.canvas_action)

    generate_menu = bar.addMenu("&Generate")
    generate_menu.addAction(window.generate_action)
    generate_menu.addAction(window.cancel_action)
    generate_menu.addAction(window.cancel_all_action)
    generate_menu.addSeparator()
    generate_menu.addAction(window.refresh_action)

    view_menu = bar.addMenu("&View")
    theme_menu = view_menu.addMenu("&Theme")
    for action in window.theme_actions.values():
        theme_menu.addAction(action)
    view_menu.addSeparator()
    view_menu.addAction(window.prompt_dock_action)
    view_menu.addAction(window.jobs_dock_action)
    view_menu.addAction(window.details_dock_action)
    view_menu.addSeparator()
    view_menu.addAction(window.gallery_tab_action)
    view_menu.addAction(window.canvas_tab_action)
    view_menu.addSeparator()
    view_menu.addAction(window.zoom_in_action)
    view_menu.addAction(window.zoom_out_action)
    view_menu.addAction(window.trash_view_action)

    help_menu = bar.addMenu("&Help")
    help_menu.addAction(window.shortcuts_action)
    help_menu.addAction(window.about_action)
    help_menu.addSeparator()
    help_menu.addAction(window.log_folder_action)
    help_menu.addAction(window.library_folder_action)


def _show_shortcuts(window: MainWindow) -> None:
    from dlx_art.gui.shortcuts_dialog import ShortcutsDialog

    dialog = getattr(window, "_shortcuts_dialog", None)
    if dialog is None:
        dialog = ShortcutsDialog(window, window)
        window._shortcuts_dialog = dialog  # type: ignore[attr-defined]
    dialog.show()
    dialog.raise_()
