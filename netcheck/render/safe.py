"""Neutralise report strings per output format: one function per format, used wherever a renderer emits text.

Much of a report's text did not come from netcheck: a TLS peer chooses the issuer name it presents, a DNS
server its answers, a proxy its reply, the site profile its `metadata.name`. Written raw, such a string can
retitle or clear the reader's terminal (ESC, CSI, OSC sequences), forge a report line of its own ("\\n[PASS]
fake: ok"), break the XML of a JUnit file or inject markup into HTML and Markdown. Each `for_*` function turns
any string into text that is inert in its format and still readable: a control character is shown as its
Python escape (`\\x1b`, `\\n`), so the reader sees that the peer sent one.

JSON needs nothing here: `json.dumps` escapes every control character and the report keeps the exact value.
"""

from __future__ import annotations

import re
import unicodedata
from html import escape as _html_escape

# Bidirectional overrides and isolates reorder what a reader sees ("Trojan Source"); the BOM and the
# zero-width no-break/joiner family are left alone (they render as nothing and forge no lines).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _unsafe(ch: str) -> bool:
    """C0/C1 controls and DEL, line/paragraph separators, lone surrogates, bidi controls, U+FFFE/U+FFFF."""
    if ch in _BIDI or ch in "\ufffe\uffff":
        return True
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Cs")


def _escaped(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_CANDIDATES = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")


def neutral(text: object) -> str:
    """The text on one line with every control, separator, surrogate and bidi control shown as an escape."""
    s = str(text)
    return _CANDIDATES.sub(lambda m: _escaped(m.group(0)) if _unsafe(m.group(0)) else m.group(0), s)


def for_terminal(text: object) -> str:
    """Safe on a terminal (the table, stderr, the progress line): no escape sequence, no line of its own."""
    return neutral(text)


def for_rich(text: object) -> str:
    """Safe as rich markup (the progress UI's description): neutral, with `[` escaped so it styles nothing."""
    from rich.markup import escape as markup_escape

    return markup_escape(neutral(text))


def for_nagios(text: object) -> str:
    """One line of plugin output: neutral, `|` (the perfdata separator) replaced, whitespace collapsed."""
    return " ".join(neutral(text).replace("|", "/").split())


_MARKUP = re.compile(r"([\\`*_\[\]<>|&~])")
_ORDERED = re.compile(r"^(\d{1,9})([.)])(?=\s|$)")


def for_markdown(text: object) -> str:
    """Plain text safe inline and in a table cell: neutral, then markup characters backslash-escaped
    (CommonMark), so a placeholder such as `<ip>` or a name with `<b>` shows as written, not as HTML.
    """
    out = _MARKUP.sub(r"\\\1", " ".join(neutral(text).split()))
    out = _ORDERED.sub(r"\1\\\2", out)  # "1. x" at the start of a line would open a list
    return "\\" + out if out[:1] in ("#", "+", "-", "=") else out


def for_markdown_code(text: object) -> str:
    """Inline code that survives backticks and controls in the text."""
    t = " ".join(neutral(text).split())
    fence = "``" if "`" in t else "`"
    return f"{fence} {t} {fence}" if fence == "``" else f"`{t}`"


def for_xml(text: object) -> str:
    """A value ElementTree can write as well-formed XML 1.0 (it escapes `<&"` itself): neutral, so no
    character XML forbids and no C1 control a CI log viewer would pass to a terminal.
    """
    return neutral(text)


def for_html(text: object) -> str:
    """Text for an HTML element or a quoted attribute: neutral, then `<>&"'` escaped."""
    return _html_escape(neutral(text), quote=True)


def for_prometheus_label(text: object) -> str:
    """A label value of the text exposition format: neutral except for a newline, which the format itself
    escapes (`\\n`, so the value keeps it), then `\\` and `"` escaped."""
    value = "\n".join(neutral(part) for part in str(text).split("\n"))
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
