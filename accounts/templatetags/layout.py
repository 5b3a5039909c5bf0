"""``{% stacked %}<table class="table table-stack">…</table>{% endstacked %}``: a wide table that
becomes one card per row on a ward tablet (below 992 px, clinic.css) instead of hiding columns
behind an inner scroll bar. Each body cell is given its column's heading as ``data-label``, which the
stylesheet shows beside the value; on a desktop and on paper the table is unchanged.

The labels are copied from the rendered ``<thead>`` once, here, so that a template never repeats a
heading by hand (and cannot let the two drift apart). A builtin (settings.TEMPLATES): no ``{% load %}``.
"""

import re
from html import unescape

from django import template
from django.utils.html import escape, strip_tags
from django.utils.safestring import mark_safe

register = template.Library()

_THEAD = re.compile(r"<thead\b.*?</thead>", re.IGNORECASE | re.DOTALL)
_HEADING = re.compile(r"<th\b([^>]*)>(.*?)</th>", re.IGNORECASE | re.DOTALL)
# A row or a cell's opening tag; "<thead" and "<track" do not match (no word boundary after th/tr).
_ROW_OR_CELL = re.compile(r"<(tr|td|th)\b([^>]*)>", re.IGNORECASE)
_COLSPAN = re.compile(r"""\bcolspan\s*=\s*["']?(\d+)""", re.IGNORECASE)


def _colspan(attributes: str) -> int:
    match = _COLSPAN.search(attributes)
    return max(int(match.group(1)), 1) if match else 1


def _headings(thead: str) -> list[str]:
    """One label per column of the header's last row, as plain text (a heading spanning two
    columns labels both)."""
    rows = re.split(r"<tr\b", thead, flags=re.IGNORECASE)
    labels: list[str] = []
    for attributes, content in _HEADING.findall(rows[-1]):
        text = " ".join(unescape(strip_tags(content)).split())
        labels.extend([text] * _colspan(attributes))
    return labels


def _label_rows(body: str, labels: list[str]) -> str:
    column = 0

    def label(match: re.Match) -> str:
        nonlocal column
        tag, attributes = match.group(1), match.group(2)
        if tag.lower() == "tr":
            column = 0
            return match.group(0)
        span = _colspan(attributes)
        text = labels[column] if column < len(labels) else ""
        column += span
        # A cell across the whole row ("No pump rate recorded.") is a message, not a value.
        if not text or span >= len(labels) or "data-label" in attributes:
            return match.group(0)
        return f'<{tag}{attributes} data-label="{escape(text)}">'

    return _ROW_OR_CELL.sub(label, body)


def label_cells(html: str) -> str:
    """Give every body cell of each table in ``html`` its column heading as ``data-label``.

    >>> label_cells('<table><thead><tr><th>Time</th><th class="num">Rate <span class="unit">mL/h</span></th>'
    ...             '</tr></thead><tbody><tr><td>09:00</td><td class="num">30</td></tr>'
    ...             '<tr><td colspan="2">No rate.</td></tr></tbody></table>')  # doctest: +NORMALIZE_WHITESPACE
    '<table><thead><tr><th>Time</th><th class="num">Rate <span class="unit">mL/h</span></th></tr></thead><tbody>\
<tr><td data-label="Time">09:00</td><td class="num" data-label="Rate mL/h">30</td></tr>\
<tr><td colspan="2">No rate.</td></tr></tbody></table>'
    """
    pieces: list[str] = []
    position = 0
    labels: list[str] = []
    for head in _THEAD.finditer(html):
        pieces.append(_label_rows(html[position : head.start()], labels) if labels else html[position : head.start()])
        pieces.append(head.group(0))
        labels = _headings(head.group(0))
        position = head.end()
    tail = html[position:]
    pieces.append(_label_rows(tail, labels) if labels else tail)
    return "".join(pieces)


class StackedNode(template.Node):
    def __init__(self, nodelist):
        self.nodelist = nodelist

    def render(self, context) -> str:
        return mark_safe(label_cells(self.nodelist.render(context)))


@register.tag
def stacked(parser, token):
    nodelist = parser.parse(("endstacked",))
    parser.delete_first_token()
    return StackedNode(nodelist)
