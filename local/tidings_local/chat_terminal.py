"""The terminal side of `tidings chat`: keys in, whole screens out, standard library only.

- `Terminal` puts the TTY into a raw-ish mode (no echo, no line buffering, Ctrl+C and Ctrl+D
  arrive as keys) on the alternate screen, and puts everything back on exit, also after an
  error: the shell gets its terminal back as it was.
- `KeyReader` turns the bytes of stdin into keys: characters (UTF-8, also split across reads),
  control keys and the escape sequences of the arrow, Home, End and Delete keys.
- `LineEditor` is the prompt: insert, Backspace/Delete, Left/Right/Home/End, Ctrl+A/E/U/K/W,
  Up/Down through the lines entered before.
- `display_width`, `fit`, `wrap` measure text in terminal cells (an emoji or a CJK character
  takes two, a combining mark none), and `printable` makes text from other people safe to
  print: their control characters and bidi overrides must not reach the terminal as commands.

A screen is a list of `(style, text)` rows, each one style: `Terminal.draw` writes them all at
once, so a message that arrives while you type redraws the prompt with your line intact.
"""

from __future__ import annotations

import codecs
import os
import shutil
import sys
import termios
import unicodedata
from dataclasses import dataclass, field
from typing import TextIO

ESC = "\x1b"
RESET = f"{ESC}[0m"
DIM = f"{ESC}[2m"
BOLD = f"{ESC}[1m"
REVERSE = f"{ESC}[7m"
ALTERNATE_SCREEN_ON = f"{ESC}[?1049h"
ALTERNATE_SCREEN_OFF = f"{ESC}[?1049l"
HIDE_CURSOR = f"{ESC}[?25l"
SHOW_CURSOR = f"{ESC}[?25h"

Row = tuple[str, str]  # (an SGR style, or "", the text)

# Zero-width characters that join or modify the character before them (emoji sequences).
_ZERO_WIDTH = frozenset("\u200d\u200c\ufe0e\ufe0f")
# Bidi embeddings, overrides and isolates: they reorder what follows them on screen.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def char_width(char: str) -> int:
    if char in _ZERO_WIDTH or unicodedata.combining(char) or "\U000e0020" <= char <= "\U000e007f":
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    return sum(char_width(char) for char in text)


def printable(text: str) -> str:
    """`text` with nothing the terminal would take as a command: control characters (ESC, the
    bell, carriage returns...) and bidi controls become U+FFFD. Tabs become spaces; line breaks
    stay (`wrap` makes lines of them, `Terminal.draw` spaces)."""
    text = text.replace("\t", "    ")
    unsafe = [
        char for char in set(text) if (unicodedata.category(char) == "Cc" and char != "\n") or char in _BIDI_CONTROLS
    ]
    for char in unsafe:
        text = text.replace(char, "\ufffd")
    return text


def fit(text: str, width: int) -> str:
    """`text` cut to `width` cells (with `…` when cut), padded with spaces to exactly `width`."""
    if display_width(text) <= width:
        return text + " " * (width - display_width(text))
    cut, used = [], 0
    for char in text:
        if used + char_width(char) > width - 1:
            break
        cut.append(char)
        used += char_width(char)
    return "".join(cut) + "…" + " " * (width - 1 - used)


def wrap(text: str, width: int, indent: int = 0) -> list[str]:
    """`text` in lines of at most `width` cells, broken at spaces where possible; lines after
    the first start with `indent` spaces. Newlines in `text` start new lines."""
    width = max(width, indent + 2)
    lines: list[str] = []
    for number, paragraph in enumerate(text.split("\n")):
        line = " " * indent if number else ""
        used = len(line)
        for char in paragraph:
            w = char_width(char)
            if used + w > width:
                space = line.rfind(" ")
                head, rest = (line[:space], line[space + 1 :]) if space > indent else (line, "")
                lines.append(head)
                line = " " * indent + rest
                used = display_width(line)
            line += char
            used += w
        lines.append(line)
    return lines


class KeyReader:
    """Bytes from the terminal → keys: a character, a control character (`"\\x03"`), or the
    name of a special key (`"up"`, `"down"`, `"left"`, `"right"`, `"home"`, `"end"`,
    `"delete"`). Escape sequences of other keys are swallowed."""

    SEQUENCES = {
        "[A": "up",
        "[B": "down",
        "[C": "right",
        "[D": "left",
        "[H": "home",
        "[F": "end",
        "OA": "up",
        "OB": "down",
        "OC": "right",
        "OD": "left",
        "OH": "home",
        "OF": "end",
        "[1~": "home",
        "[7~": "home",
        "[4~": "end",
        "[8~": "end",
        "[3~": "delete",
    }

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._escape: str | None = None  # an escape sequence being read

    def feed(self, data: bytes) -> list[str]:
        keys: list[str] = []
        for char in self._decoder.decode(data):
            if self._escape is None:
                if char == ESC:
                    self._escape = ""
                else:
                    keys.append(char)
                continue
            self._escape += char
            sequence = self._escape
            if sequence in ("[", "O") or (sequence[0] == "[" and not ("\x40" <= char <= "\x7e")):
                continue  # not complete yet
            self._escape = None
            if sequence[0] in "[O" and sequence in self.SEQUENCES:
                keys.append(self.SEQUENCES[sequence])
            # anything else (Alt+key, a function key) is ignored
        return keys


@dataclass
class LineEditor:
    """The line being typed, with a cursor and the lines entered before (Up/Down)."""

    text: str = ""
    cursor: int = 0
    history: list[str] = field(default_factory=list)
    submitted: str = ""  # the line of the last "submit"
    _recalled: int | None = None  # index into history while browsing it
    _draft: str = ""  # what was typed before browsing

    def press(self, key: str) -> str | None:
        """Applies one key. Returns `"submit"` (Enter: the line is in `submitted`), `"eof"`
        (Ctrl+D on an empty line), `"interrupt"` (Ctrl+C), `"redraw"` (Ctrl+L) or None."""
        if key in ("\r", "\n"):
            self.submitted = self.text
            if self.text.strip() and (not self.history or self.history[-1] != self.text):
                self.history.append(self.text)
            self._set("")
            self._recalled = None
            return "submit"
        if key == "\x03":
            return "interrupt"
        if key == "\x04":
            if not self.text:
                return "eof"
            key = "delete"
        if key == "\x0c":
            return "redraw"
        actions = {
            "\x7f": self._backspace,
            "\x08": self._backspace,
            "delete": self._delete,
            "left": lambda: self._move(self.cursor - 1),
            "right": lambda: self._move(self.cursor + 1),
            "home": lambda: self._move(0),
            "\x01": lambda: self._move(0),
            "end": lambda: self._move(len(self.text)),
            "\x05": lambda: self._move(len(self.text)),
            "\x15": lambda: self._set(self.text[self.cursor :], 0),
            "\x0b": lambda: self._set(self.text[: self.cursor]),
            "\x17": self._delete_word,
            "up": lambda: self._recall(-1),
            "down": lambda: self._recall(1),
        }
        if key in actions:
            actions[key]()
        elif len(key) == 1 and unicodedata.category(key) != "Cc":
            self._set(self.text[: self.cursor] + key + self.text[self.cursor :], self.cursor + 1)
        return None

    def _set(self, text: str, cursor: int | None = None) -> None:
        self.text = text
        self.cursor = len(text) if cursor is None else cursor

    def _move(self, cursor: int) -> None:
        self.cursor = min(max(cursor, 0), len(self.text))

    def _backspace(self) -> None:
        if self.cursor > 0:
            self._set(self.text[: self.cursor - 1] + self.text[self.cursor :], self.cursor - 1)

    def _delete(self) -> None:
        self._set(self.text[: self.cursor] + self.text[self.cursor + 1 :], self.cursor)

    def _delete_word(self) -> None:
        head = self.text[: self.cursor].rstrip()
        start = head.rfind(" ") + 1
        self._set(self.text[:start] + self.text[self.cursor :], start)

    def _recall(self, step: int) -> None:
        if not self.history:
            return
        if self._recalled is None:
            if step > 0:
                return
            self._draft, self._recalled = self.text, len(self.history)
        self._recalled = min(max(self._recalled + step, 0), len(self.history))
        self._set(self._draft if self._recalled == len(self.history) else self.history[self._recalled])

    def view(self, width: int) -> tuple[str, int]:
        """The part of the line that fits in `width` cells around the cursor, and the cursor's
        column in it."""
        start = 0
        while display_width(self.text[start : self.cursor]) > width - 1:
            start += 1
        shown, used = "", 0
        for char in self.text[start:]:
            if used + char_width(char) > width:
                break
            shown += char
            used += char_width(char)
        return shown, display_width(self.text[start : self.cursor])


class Terminal:
    """The TTY on stdin/stdout in a raw-ish mode on the alternate screen, as a context manager.

    Raw-ish: no echo and no line editing by the terminal (the `LineEditor` does both), Ctrl+C,
    Ctrl+D and Ctrl+Z arrive as keys instead of signals, Enter arrives as `\\r`. Output
    processing stays on. `__exit__` restores the saved mode and the main screen."""

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.fd = self.stdin.fileno()
        self._saved: list | None = None  # type: ignore[type-arg]

    def __enter__(self) -> Terminal:
        self._saved = termios.tcgetattr(self.fd)
        mode = termios.tcgetattr(self.fd)
        mode[0] &= ~(termios.ICRNL | termios.IXON)  # input flags: keep \r, let Ctrl+S/Q through
        mode[3] &= ~(termios.ECHO | termios.ICANON | termios.ISIG | termios.IEXTEN)  # local flags
        mode[6][termios.VMIN], mode[6][termios.VTIME] = 1, 0
        termios.tcsetattr(self.fd, termios.TCSANOW, mode)
        self.write(ALTERNATE_SCREEN_ON + f"{ESC}[2J")
        return self

    def __exit__(self, *_: object) -> None:
        self.write(RESET + ALTERNATE_SCREEN_OFF + SHOW_CURSOR)
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    def size(self) -> tuple[int, int]:
        """(columns, rows), at least 20 columns and 6 rows, so that a layout always fits."""
        columns, rows = shutil.get_terminal_size((80, 24))
        return max(columns, 20), max(rows, 6)

    def read(self) -> bytes:
        return os.read(self.fd, 4096)

    def write(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def draw(self, rows: list[Row], cursor: tuple[int, int]) -> None:
        """Writes a whole screen (`rows` top to bottom, each cut to the width) and puts the
        cursor at (row, column), both counted from 0."""
        width, height = self.size()
        out = [HIDE_CURSOR]
        for index in range(height):
            style, text = rows[index] if index < len(rows) else ("", "")
            text = fit(text.replace("\n", " "), width)  # a row is one line
            text = text if style else text.rstrip()  # a style fills the row; plain text needs no padding
            out.append(f"{ESC}[{index + 1};1H{style}{text}{RESET if style else ''}{ESC}[K")
        out.append(f"{ESC}[{cursor[0] + 1};{cursor[1] + 1}H{SHOW_CURSOR}")
        self.write("".join(out))
