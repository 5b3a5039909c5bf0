"""``{% board_row board chair cells days %}``: a chair's row of chair-day cells of the week's board, written in
Python rather than an included template per chip. A week shows up to 16 chairs x 7 days; an
include per chip cost thousands of template variable lookups per request (issue 17), this costs
one call per row. The markup is the chip the template drew, plus the board's controls:

- ``Move`` on a planned or confirmed chip (for people who may move sessions): without a script
  it is the move form's page; week_view.js turns it into the board's move mode.
- ``Book day 1 here`` on a free cell from today on, while the board books an order (``?book=``):
  the booking form prefilled with the chair and the day (week_view.js opens it in the panel).
- The prescriber and verifier of each order, in the print layout only.
"""

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from django import template
from django.urls import reverse
from django.utils.dateformat import format as format_date
from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from ..models import SessionStatus
from ..services.queries import Chip, OrderToBook
from ..services.sessions import MOVABLE_STATUSES

register = template.Library()

PLACEHOLDER = UUID(int=0)
BORDERS = {
    SessionStatus.CONFIRMED: "border-primary",
    SessionStatus.IN_PROGRESS: "border-warning",
    SessionStatus.COMPLETED: "border-success",
    SessionStatus.MISSED: "border-danger",
}
BADGES = {
    SessionStatus.CONFIRMED: "text-bg-primary",
    SessionStatus.IN_PROGRESS: "text-bg-warning",
    SessionStatus.COMPLETED: "text-bg-success",
    SessionStatus.MISSED: "text-bg-danger",
}
SETTLED = (SessionStatus.COMPLETED, SessionStatus.MISSED)


def _url_pattern(name: str, **kwargs) -> str:
    """The URL with ``{}`` where the session's UUID goes: one reverse() per page, not per chip."""
    return reverse(name, kwargs={**kwargs, "session_uuid": PLACEHOLDER}).replace(str(PLACEHOLDER), "{}")


@dataclass(frozen=True)
class Board:
    """What every cell of one page of the board shares."""

    today: date
    printing: bool = False
    can_move: bool = False
    booking: OrderToBook | None = None
    session_url: str = ""
    move_url: str = ""
    book_url: str = ""

    @classmethod
    def build(cls, *, today: date, printing: bool, can_move: bool, booking: OrderToBook | None) -> "Board":
        book_url = ""
        if booking is not None and not printing:
            book_url = reverse("scheduling:course_create", kwargs={"order_uuid": booking.uuid})
        return cls(
            today=today,
            printing=printing,
            can_move=can_move and not printing,
            booking=booking,
            session_url=_url_pattern("scheduling:session_detail"),
            move_url=_url_pattern("scheduling:session_move"),
            book_url=book_url,
        )


def chip_html(chip: Chip, board: Board) -> str:
    uuid = str(chip.uuid)
    parts = [
        f'<div class="chip border border-2 rounded p-1 mb-1 small {BORDERS.get(chip.status, "border-secondary")}">',
        '<div class="d-flex justify-content-between gap-1">',
        f'<a class="fw-semibold" id="s-{uuid}" href="{board.session_url.format(uuid)}">',
        f"<bdi>{escape(chip.mrn)}</bdi></a>",
        f'<span title="Initials">({".".join(escape(chip.initials))}.)</span></div>',
        f'<div class="num text-start">{chip.start:%H:%M}–{chip.end:%H:%M}</div>',
        f'<div class="text-secondary">day {chip.day_number}/{chip.days_per_cycle} · {escape(chip.product)}</div>',
        f'<span class="badge {BADGES.get(chip.status, "text-bg-light border")}">{escape(chip.status_label)}</span>',
    ]
    if chip.at_risk:
        titles = escape("; ".join(chip.at_risk))
        parts.append(f' <span class="badge text-bg-danger" title="{titles}">at risk ({len(chip.at_risk)})</span>')
    if chip.order_status != "verified" and chip.status not in SETTLED:
        words = "order: verify again" if chip.order_status == "review" else "order not verified"
        parts.append(
            f' <span class="badge text-bg-warning" data-order-pending="{escape(chip.order_status)}" '
            f'title="{escape(chip.order_status_label)}">{words}</span>'
        )
    if board.printing:
        # On paper each session names who prescribed and who verified its order.
        verified = f"verified {escape(chip.verified_by)}" if chip.verified_by else "not verified"
        parts.append(f'<div class="print-only signatories">Rx {escape(chip.prescribed_by)}<br>{verified}</div>')
    if board.can_move and chip.status in MOVABLE_STATUSES:
        parts.append(
            f'<a class="no-print d-block board-move" id="m-{uuid}" href="{board.move_url.format(uuid)}" '
            f'data-move="{uuid}">Move</a>'
        )
    parts.append("</div>")
    return "".join(parts)


def cell_html(board: Board, chair: int, day: date, chips, *, oob: bool = False) -> SafeString:
    iso = day.isoformat()
    shown = date_format(day)  # the clinic's format, as the move form types it
    attrs = f'id="c{chair}-{iso}" data-chair="{chair}" data-date="{shown}"'
    if day < board.today:
        attrs += " data-past"
    if oob:
        attrs += ' hx-swap-oob="true"'
    body = "".join(chip_html(chip, board) for chip in chips)
    if board.book_url and not chips and day >= board.today:
        where = f"chair {chair}, {format_date(day, 'D')} {shown}"
        body += (
            f'<a class="btn btn-outline-primary btn-sm board-book" id="b{chair}-{iso}" data-book '
            f'href="{board.book_url}?chair={chair}&amp;first_day={iso}">Book day 1 here'
            f'<span class="visually-hidden"> ({where})</span></a>'
        )
    return mark_safe(f"<td {attrs}>{body}</td>")  # every value above is a number, a date or escaped


@register.simple_tag
def board_row(board: Board, chair: int, cells, days) -> SafeString:
    """A chair's seven cells."""
    return mark_safe("".join(cell_html(board, chair, day, chips) for day, chips in zip(days, cells, strict=True)))


@register.simple_tag
def board_today_cells(board: Board, grid) -> SafeString:
    """Today's column alone, each cell swapped in place by id (htmx out-of-band)."""
    day = grid.days[0]
    return mark_safe("".join(cell_html(board, chair, day, cells[0], oob=True) for chair, cells in grid.rows))
