"""Every key of the app in one table: the help screen and the README read it."""

from __future__ import annotations

KEYS: list[tuple[str, str, str]] = [
    ("Anywhere", "/", "jump to the search box; a / that only jumps is never typed (also at launch, when the "
                      "box has focus): press / again to start an absolute path, as in / /home/me/x.jpg"),
    ("Anywhere", "Tab / Shift+Tab", "move between panes; the letter keys below act outside the search box (in it "
                                    "they are typed: Tab, Down or Enter leaves it)"),
    ("Anywhere", "?", "show all keys"),
    ("Anywhere", "Esc", "go back (detail -> results -> search)"),
    ("Anywhere", "q / Ctrl+Q", "quit (indexing stops cleanly; the next run resumes)"),
    ("Anywhere", "a", "add a folder to the library (Tab completes the path)"),
    ("Anywhere", "p", "pause or resume captioning the library and reading its text in the background"),
    ("Anywhere", "t", "sort the results by score, capture date or name (in turn)"),
    ("Anywhere", "D", "near-duplicates: groups side by side; m marks, o opens, y copies a path, w writes the "
                      "marked paths to a list, v moves the marked files to a folder (never deletes)"),
    ("Library", "d", "remove the selected folder from the library (asks first)"),
    ("Library", "r", "rescan the selected folder (R: all folders)"),
    ("Library", "e / Enter", "list the files skipped in the selected folder, with reasons"),
    ("Search", "Enter", "search now and move to the results at once (keys typed ahead act on them)"),
    ("Search", "Down", "move into the results"),
    ("Search", "Up / Down", "step through earlier searches (those you pressed Enter or Down on, kept across "
                            "sessions in the data dir; history = false keeps none)"),
    ("Results", "j / k, arrows", "move through the results"),
    ("Results", "Enter", "open the detail of the selected image"),
    ("Results", "s", "find images similar to the selected one"),
    ("Results, Detail", "g", "switch between list and grid of thumbnails"),
    ("Results, Detail", "o", "open the image in the system viewer"),
    ("Results, Detail", "y", "copy the image's path (OSC 52 clipboard); in the detail pane, with the text read in it "
                             "below the path"),
    ("Detail", "s", "find images similar to this one"),
]
