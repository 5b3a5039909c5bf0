"""The role-shaped home page: each role leads with what it acts on, every other section is one
click away with the same figure as its full list, and the cost does not grow with the clinic."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models.signals import post_init
from django.template import base as template_base
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.roles import NURSE, PHARMACIST, PHYSICIAN, VIEWER
from clinic.dashboard import LEADS, SECTION_BY_KEY, SECTIONS, home_layout
from clinic.tests.test_views_dashboard import _clinic, _unit
from dosing.models import DoseOrder, TreatmentCourse
from patients.tests.factories import PatientFactory
from scheduling.models import InfusionSession, Reminder, SessionStatus
from scheduling.tests.factories import InfusionSessionFactory, ReminderFactory, local
from visits.services import visit_record

URL = reverse("home")
HEADING = re.compile(r'<h2 class="h5[^"]*" id="([a-z-]+)-h">')


def _anchors(keys) -> list[str]:
    return [SECTION_BY_KEY[key].anchor for key in keys]


def _headings(html: str) -> list[str]:
    return HEADING.findall(html)


@pytest.mark.parametrize(("roles", "asked", "shown"), [
    ([PHYSICIAN], {}, ["unacknowledged", "needs_review", "reviews_due"]),
    ([PHARMACIST], {}, ["orders", "to_prepare"]),
    ([NURSE], {}, ["today", "to_schedule", "checks"]),
    ([VIEWER], {}, ["upcoming", "flags", "deteriorations"]),
    ([], {}, ["upcoming", "flags", "deteriorations"]),  # no clinical role (an administrator): the overview
    ([NURSE, PHARMACIST], {}, ["today", "orders", "to_prepare", "to_schedule", "checks"]),
    ([NURSE, PHARMACIST], {"view": NURSE}, ["today", "to_schedule", "checks"]),
    ([PHYSICIAN], {"view": VIEWER}, ["upcoming", "flags", "deteriorations"]),
    ([PHYSICIAN], {"section": "orders"}, ["orders"]),
    ([PHYSICIAN], {"view": "surgeon", "section": "nowhere"}, ["unacknowledged", "needs_review", "reviews_due"]),
])  # fmt: skip
def test_layout_leads_with_the_roles_sections_and_keeps_the_rest(roles, asked, shown):
    layout = home_layout(roles, **asked)
    assert [section.key for section in layout.shown] == shown
    assert {section.key for section in layout.others} == {section.key for section in SECTIONS} - set(shown)


@pytest.mark.parametrize(("roles", "views"), [
    ([PHYSICIAN], [PHYSICIAN, VIEWER]),
    ([VIEWER], [VIEWER]),
    ([PHARMACIST, NURSE], ["", PHARMACIST, NURSE, VIEWER]),
])  # fmt: skip
def test_the_views_a_person_can_switch_between(roles, views):
    assert [view for view, _ in home_layout(roles).views] == views


def _courses_due(today: date, by) -> dict:
    """Treatment courses against the default notice of 28 days: due in 10 days, overdue, due in
    60 days (not yet), stopped (never), and one whose authorisation lapses before its review."""
    made = {}
    for name, review_in, until_in, status in (
        ("soon", 10, 10, "active"),
        ("overdue", -3, -3, "trial_off"),
        ("later", 60, 60, "active"),
        ("stopped", -30, -30, "stopped"),
        ("lapsing", 90, 5, "active"),
    ):
        made[name] = TreatmentCourse.objects.create(
            patient=PatientFactory(),
            indication_slug="dermatomyositis",
            indication_name="Dermatomyositis",
            started_on=today - timedelta(days=200),
            authorised_until=today + timedelta(days=until_in),
            next_review_due=today + timedelta(days=review_in),
            max_dose_g_per_kg=Decimal("2"),
            interval_weeks=4,
            current_dose_g_per_kg=Decimal("2"),
            current_interval_weeks=4,
            status=status,
            status_reason="" if status == "active" else "Decided at the last review.",
            created_by=by,
        )
    return made


def _everything(make_order, today: date, by) -> dict:
    """Some of every section: flags, an order awaiting verification, verified orders to schedule,
    today's sessions, sessions in the next days, checks due, infusions to review, reviews due."""
    _clinic(3)
    _unit(2)
    make_order()
    tomorrow = InfusionSessionFactory(
        cycle__start_date=today + timedelta(days=1), planned_start=local(10, day=today + timedelta(days=1))
    )
    in_five = InfusionSessionFactory(
        cycle__start_date=today + timedelta(days=5), planned_start=local(10, day=today + timedelta(days=5))
    )
    ReminderFactory(due_at=local(9), window_end=local(10))  # overdue
    ReminderFactory(due_at=local(11))
    worse = PatientFactory()
    for day, extramuscular in ((date(2026, 1, 5), "2"), (date(2026, 2, 5), "4.5"), (date(2026, 3, 5), "4.2")):
        visit_record(
            by=by,
            patient=worse,
            visit_date=day,
            is_baseline=day.month == 1,
            extramuscular_global_cm=extramuscular,
            today=today,
        )
    return {"tomorrow": tomorrow, "in_five": in_five, "courses": _courses_due(today, by)}


def _truth(now) -> dict:
    """Each section's figure counted straight off the tables, as a check on the page's."""
    start = local(0)
    day_end = start + timedelta(days=1)
    today = InfusionSession.objects.filter(planned_start__gte=start, planned_start__lt=day_end)
    live = Reminder.objects.filter(status__in=("pending", "sent"))
    return {
        "orders": DoseOrder.objects.filter(status__in=("awaiting_verification", "reverify", "review")).count(),
        "to_schedule": DoseOrder.objects.filter(
            status__in=("verified", "review"), course_booked_at__isnull=True
        ).count(),
        "today": today.exclude(status__in=("missed", "cancelled"))
        .exclude(status__in=("planned", "confirmed"), planned_start__gte=now + timedelta(hours=1))
        .count(),
        "to_prepare": InfusionSession.objects.filter(
            status__in=("planned", "confirmed"), planned_start__gte=now, planned_start__lt=now + timedelta(days=2)
        ).count(),
        "upcoming": InfusionSession.objects.filter(
            status__in=("planned", "confirmed", "in_progress"),
            planned_start__gte=now,
            planned_start__lt=now + timedelta(days=7),
        ).count(),
        "checks": live.filter(kind="thrombosis_check", due_at__lte=now).count(),
        "needs_review": live.filter(kind__in=("infusion_incomplete", "infusion_reaction")).count(),
        "reviews_due": 3,  # soon, overdue, lapsing (_courses_due)
    }


@pytest.mark.django_db
@pytest.mark.parametrize("role", [PHYSICIAN, PHARMACIST, NURSE, VIEWER])
def test_each_role_leads_with_its_sections_and_the_rest_is_one_click_away(
    role, role_client, make_user, make_order, frozen_today
):
    _everything(make_order, frozen_today, by=make_user(PHYSICIAN))
    truth = _truth(timezone.now())
    client = role_client(role)
    html = client.get(URL).content.decode()
    assert _headings(html) == _anchors(LEADS[role])
    others = [section for section in SECTIONS if section.key not in LEADS[role]]
    links = re.findall(
        r'<li class="[^"]*" data-section="([a-z_]+)"><a [^>]*href="/\?section=\1">.*?data-figure>(\d+)<', html
    )
    assert [key for key, _ in links] == [section.key for section in others]
    for key, figure in links:
        page = client.get(URL, {"section": key})
        assert _headings(page.content.decode()) == _anchors([key])  # one click: that section in full
        listed = page.context["board"].counts[SECTION_BY_KEY[key].count]
        assert int(figure) == listed, key  # the figure is the full list's
        if key in truth:
            assert listed == truth[key], key
        assert listed > 0, key  # every section has something here, so a zero cannot pass for a count


@pytest.mark.django_db
def test_reviews_due_are_courses_in_force_within_the_notice(role_client, make_user, frozen_today):
    courses = _courses_due(frozen_today, make_user(PHYSICIAN))
    response = role_client(PHYSICIAN).get(URL)
    board = response.context["board"]
    assert board.reviews_due == [courses["overdue"], courses["soon"], courses["lapsing"]]
    assert board.counts["reviews_due"] == 3 and board.review_notice_days == 28
    html = response.content.decode()
    review = reverse("pathway:review", kwargs={"course_uuid": courses["soon"].uuid})
    assert f'href="{review}"' in html and "overdue" in html and '28 <span class="unit">days</span>' in html
    # A viewer sees the list but may not record a review.
    assert review not in role_client(VIEWER).get(URL, {"section": "reviews_due"}).content.decode()


@pytest.mark.django_db
def test_to_prepare_lists_booked_infusions_of_the_next_two_days(role_client, frozen_today):
    soon = InfusionSessionFactory(
        cycle__start_date=frozen_today + timedelta(days=1),
        planned_start=local(10, day=frozen_today + timedelta(days=1)),
    )
    InfusionSessionFactory(  # in three days: not yet
        cycle__start_date=frozen_today + timedelta(days=3),
        planned_start=local(10, day=frozen_today + timedelta(days=3)),
    )
    InfusionSessionFactory(planned_start=local(9), status=SessionStatus.PLANNED)  # this morning: already due
    response = role_client(PHARMACIST).get(URL)
    board = response.context["board"]
    assert board.to_prepare == [soon] and board.counts["to_prepare"] == 1
    html = response.content.decode()
    assert "Nothing in the app records a preparation yet" in html
    assert soon.get_absolute_url() in html and soon.cycle.course.order.get_absolute_url() in html


@pytest.mark.django_db
def test_a_person_with_two_roles_leads_with_both_and_may_pick_one(client, make_user, frozen_today):
    person = make_user(PHARMACIST)
    person.groups.add(*make_user(NURSE).groups.all())
    client.force_login(person)
    html = client.get(URL).content.decode()
    assert _headings(html) == _anchors(["today", "orders", "to_prepare", "to_schedule", "checks"])
    views = re.findall(r'<a class="nav-link( active" aria-current="page)?" href="/(\?view=[a-z]+)?">([^<]+)</a>', html)
    assert [(bool(active), label) for active, _, label in views] == [
        (True, "All my work"),
        (False, "Pharmacist"),
        (False, "Nurse"),
        (False, "Overview"),
    ]
    nurse = client.get(URL, {"view": NURSE}).content.decode()
    assert _headings(nurse) == _anchors(LEADS[NURSE])
    assert '<a class="nav-link active" aria-current="page" href="/?view=nurse">Nurse</a>' in nurse


@pytest.mark.django_db
def test_the_viewer_has_the_overview_and_no_switcher(role_client, frozen_today):
    html = role_client(VIEWER).get(URL).content.decode()
    assert _headings(html) == _anchors(["upcoming", "flags", "deteriorations"])
    assert 'aria-label="Views of the dashboard"' not in html and 'aria-label="Other sections"' in html


@pytest.mark.django_db
def test_the_flag_filter_stays_on_the_page_it_was_used_on(role_client):
    client = role_client(PHYSICIAN)
    html = client.get(URL, {"section": "flags", "severity": "high"}).content.decode()
    assert '<input type="hidden" name="section" value="flags">' in html
    assert '<a class="btn btn-link" href="/?section=flags">Clear</a>' in html


def _cost(client: Client) -> tuple[int, int, int]:
    """Queries, model instances built and template variable lookups of one request of the home page."""
    instances, lookups = [0], [0]
    resolve = template_base.Variable._resolve_lookup

    def counting(self, context):
        lookups[0] += 1
        return resolve(self, context)

    def built(**kwargs):
        instances[0] += 1

    post_init.connect(built)
    template_base.Variable._resolve_lookup = counting
    try:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(URL).status_code == 200
    finally:
        template_base.Variable._resolve_lookup = resolve
        post_init.disconnect(built)
    return len(queries.captured_queries), instances[0], lookups[0]


# Each role's home at the larger size (30 flagged patients, 30 of each of today's lists: every list
# past its cap), measured when the page became role-shaped; the one long page before it cost 15
# queries, 842 model instances and about 4,400 variable lookups for every role. Room for small
# template changes, not for a section rendered in full again.
MOST = {
    # measured: 9 queries, 52 instances, 367 lookups; 508 once each of the 10 unacknowledged flags
    # carried its in-place Acknowledge (risk/_acknowledgement.html)
    PHYSICIAN: (9, 80, 650),
    PHARMACIST: (8, 90, 400),  # 8, 66, 282
    NURSE: (9, 200, 950),  # 9, 152, 725
    VIEWER: (10, 320, 1350),  # 10, 248, 1061
}


@pytest.mark.django_db
def test_cost_is_the_same_at_two_clinic_sizes_for_every_role(make_user, make_order, frozen_today):
    clients = {}
    for role in MOST:
        clients[role] = Client()
        clients[role].force_login(make_user(role))
    make_order()
    _clinic(3)
    _unit(1)
    small = {}
    for role, client in clients.items():
        client.get(URL)  # the first request after login renews the session (a write)
        small[role] = _cost(client)
    _clinic(30)
    _unit(30)  # past every list's cap of 25
    for role, client in clients.items():
        queries, instances, lookups = _cost(client)
        assert queries == small[role][0], role
        most = MOST[role]
        assert queries <= most[0] and instances <= most[1] and lookups <= most[2], (role, queries, instances, lookups)
