"""What a reaction may be: emoji, and nothing else (docs/protocol.md, "message.react").

A reaction is stored as part of a map key and drawn by every client, so free text is out: no
separators, no markup, no letters. This is a structural check of Unicode emoji sequences
(UTS #51): each emoji is a pictographic code point with an optional variation selector, skin
tone and tag sequence, a keycap (`1️⃣`), or a flag (two regional indicators), and emoji may be
joined by ZWJ into one (`👩‍💻`). The pictographic ranges are explicit rather than
`unicodedata`'s age-bound category so that emoji newer than the runtime's Unicode database still
pass; none of those ranges holds a letter, a digit, a control or a markup character.
"""

from __future__ import annotations

MAX_REACTION_CODE_POINTS = 32
MAX_REACTION_EMOJI = 4

ZWJ = 0x200D
TEXT_STYLE, EMOJI_STYLE = 0xFE0E, 0xFE0F
KEYCAP = 0x20E3
KEYCAP_BASES = frozenset(map(ord, "0123456789#*"))
SKIN_TONES = range(0x1F3FB, 0x1F3FF + 1)
REGIONAL_INDICATORS = range(0x1F1E6, 0x1F1FF + 1)
TAGS = range(0xE0020, 0xE007E + 1)
CANCEL_TAG = 0xE007F

# Code points that are emoji (or emoji-capable symbols) on their own, from the Unicode emoji
# data: the Basic Latin-1 and BMP symbol ranges one by one, and the supplementary emoji blocks
# whole (U+1F000-U+1FAFF: mahjong through Symbols and Pictographs Extended-A).
_PICTOGRAPHIC = (
    (0x00A9, 0x00A9),
    (0x00AE, 0x00AE),
    (0x203C, 0x203C),
    (0x2049, 0x2049),
    (0x2122, 0x2122),
    (0x2139, 0x2139),
    (0x2194, 0x2199),
    (0x21A9, 0x21AA),
    (0x231A, 0x231B),
    (0x2328, 0x2328),
    (0x23CF, 0x23CF),
    (0x23E9, 0x23F3),
    (0x23F8, 0x23FA),
    (0x24C2, 0x24C2),
    (0x25AA, 0x25AB),
    (0x25B6, 0x25B6),
    (0x25C0, 0x25C0),
    (0x25FB, 0x25FE),
    (0x2600, 0x27BF),
    (0x2934, 0x2935),
    (0x2B05, 0x2B07),
    (0x2B1B, 0x2B1C),
    (0x2B50, 0x2B50),
    (0x2B55, 0x2B55),
    (0x3030, 0x3030),
    (0x303D, 0x303D),
    (0x3297, 0x3297),
    (0x3299, 0x3299),
    (0x1F000, 0x1F1E5),  # up to the regional indicators, which only come in pairs
    (0x1F200, 0x1FAFF),
)


def _pictographic(code_point: int) -> bool:
    return any(low <= code_point <= high for low, high in _PICTOGRAPHIC)


def emoji_problem(text: str) -> str | None:
    """Why `text` is not a reaction, or None when it is one to four emoji."""
    code_points = [ord(char) for char in text]
    if not code_points:
        return "must be an emoji"
    if len(code_points) > MAX_REACTION_CODE_POINTS:
        return f"must be at most {MAX_REACTION_EMOJI} emoji ({MAX_REACTION_CODE_POINTS} code points)"
    count, position = 0, 0
    while position < len(code_points):
        end = _emoji_at(code_points, position)
        if end is None:
            where = f"{_describe(code_points[position])} at character {position + 1}"
            return f"must be emoji only: no emoji sequence starts with {where} and is complete"
        count, position = count + 1, end
    if count > MAX_REACTION_EMOJI:
        return f"must be at most {MAX_REACTION_EMOJI} emoji"
    return None


def _emoji_at(code_points: list[int], start: int) -> int | None:
    """The end of the emoji (ZWJ sequence) starting at `start`, or None if none starts there."""
    end = _element_at(code_points, start)
    while end is not None and end < len(code_points) and code_points[end] == ZWJ:
        end = _element_at(code_points, end + 1)
    return end


def _element_at(code_points: list[int], start: int) -> int | None:
    """The end of one emoji element: a flag, a keycap, or a pictograph with its modifiers."""
    if start >= len(code_points):
        return None
    first = code_points[start]
    following = code_points[start + 1 : start + 3]
    if first in REGIONAL_INDICATORS:
        return start + 2 if following[:1] and following[0] in REGIONAL_INDICATORS else None
    if first in KEYCAP_BASES:
        if following[:1] == [KEYCAP]:
            return start + 2
        return start + 3 if following == [EMOJI_STYLE, KEYCAP] else None
    if not _pictographic(first):
        return None
    position = start + 1
    if position < len(code_points) and code_points[position] in (TEXT_STYLE, EMOJI_STYLE):
        position += 1
    if position < len(code_points) and code_points[position] in SKIN_TONES:
        position += 1
    if position < len(code_points) and code_points[position] in TAGS:  # a subdivision flag: 🏴 + tags
        while position < len(code_points) and code_points[position] in TAGS:
            position += 1
        if position >= len(code_points) or code_points[position] != CANCEL_TAG:
            return None
        position += 1
    return position


def _describe(code_point: int) -> str:
    char = chr(code_point)
    return f"U+{code_point:04X}" if not char.isprintable() or 0xD800 <= code_point <= 0xDFFF else f"{char!r}"
