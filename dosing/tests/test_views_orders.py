from datetime import date
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from dosing.models import DoseOrder, Indication, OrderStatus
from dosing.services.orders import dose_order_create, dose_order_verify
from dosing.tests.factories import TODAY, site_first_step_factor
from patients.tests.factories import RiskFactorFactory


@pytest.fixture(autouse=True)
def usual_first_step(db):
    # The fixture patients are IVIG-naive, so each session here is a first infusion. These tests are
    # about the label's ladder: a site with no slower first step (factor 1). The slower first step
    # is tested in scheduling/tests/test_first_infusion_ladder.py.
    site_first_step_factor(1)


def _form(chosen, **overrides):
    return {
        "indication": chosen.pk,
        "dose_g_per_kg": "2",
        "days": "2",
        "weight_basis": "auto",
        "action": "place",
    } | overrides


def _place(client, url, data):
    """Calculate, then place the plan shown (the page posts back the digest of that plan)."""
    preview = client.post(url, data | {"action": "preview"})
    digest = preview.context["form"]["plan_digest"].value()
    return client.post(url, data | {"action": "place", "plan_digest": digest})


@pytest.mark.django_db
class TestOrderCreate:
    def url(self, patient):
        return reverse("dosing:order_create", kwargs={"patient_uuid": patient.uuid})

    def test_form_shows_the_chart_inputs(self, role_client, dm_patient, frozen_today):
        response = role_client("physician").get(self.url(dm_patient))
        assert response.status_code == 200
        html = response.content.decode()
        assert "70.0" in html and "measured 2026-11-20" in html

    def test_preview_computes_without_saving(self, role_client, dm_patient, dm_indication, frozen_today):
        response = role_client("physician").post(self.url(dm_patient), _form(dm_indication, action="preview"))
        assert response.status_code == 200
        assert response.context["preview"]["plan"]["infusion_minutes"] == 288
        assert DoseOrder.objects.count() == 0

    def test_place_creates_order_and_redirects(self, role_client, dm_patient, dm_indication, frozen_today):
        response = _place(role_client("physician"), self.url(dm_patient), _form(dm_indication))
        order = DoseOrder.objects.get()
        assert response.status_code == 302 and response.url == order.get_absolute_url()
        assert order.patient == dm_patient and order.status == OrderStatus.AWAITING_VERIFICATION

    def test_place_without_calculate_shows_the_plan_and_orders_nothing(
        self, role_client, dm_patient, dm_indication, frozen_today
    ):
        response = role_client("physician").post(self.url(dm_patient), _form(dm_indication))
        assert response.status_code == 200 and DoseOrder.objects.count() == 0
        assert response.context["preview"]["plan"]["days"] == 2
        assert "Check the plan shown, then place the order." in response.content.decode()

    def test_an_input_changed_after_calculate_is_shown_again_not_placed(
        self, role_client, dm_patient, dm_indication, frozen_today
    ):
        """Calculate over 2 days, change the days to 3, press Place order: the 3-day plan is shown,
        nothing is ordered; pressing Place order on it then orders exactly that plan."""
        client = role_client("physician")
        url = self.url(dm_patient)
        shown = client.post(url, _form(dm_indication, action="preview")).context["form"]["plan_digest"].value()
        response = client.post(url, _form(dm_indication, days="3", plan_digest=shown))
        assert response.status_code == 200 and DoseOrder.objects.count() == 0
        assert response.context["preview"]["plan"]["days"] == 3
        assert "The plan changed after Calculate" in response.content.decode()
        digest = response.context["form"]["plan_digest"].value()
        assert digest != shown
        client.post(url, _form(dm_indication, days="3", plan_digest=digest))
        order = DoseOrder.objects.get()
        assert order.days == 3 and order.plan["days"] == 3

    def test_a_chart_change_after_calculate_is_shown_again_not_placed(
        self, role_client, dm_patient, dm_indication, frozen_today
    ):
        client = role_client("physician")
        url = self.url(dm_patient)
        shown = client.post(url, _form(dm_indication, action="preview")).context["form"]["plan_digest"].value()
        RiskFactorFactory(patient=dm_patient, kind="venous_thrombosis", noted_on=date(2024, 5, 1))
        response = client.post(url, _form(dm_indication, plan_digest=shown))
        assert DoseOrder.objects.count() == 0
        assert response.context["preview"]["plan"]["max_rate_ml_per_h"] == "138.6"

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"days": "6"}, "days"),
            ({"dose_g_per_kg": "0"}, "dose_g_per_kg"),
            ({"dose_g_per_kg": "3.5"}, "dose_g_per_kg"),
            ({"weight_basis": "guess"}, "weight_basis"),
            ({"indication": "999999"}, "indication"),
        ],
    )
    def test_bad_input_at_the_field_writes_nothing(
        self, role_client, dm_patient, dm_indication, overrides, field, frozen_today
    ):
        response = role_client("physician").post(self.url(dm_patient), _form(dm_indication, **overrides))
        assert response.status_code == 200
        assert field in response.context["form"].errors
        assert DoseOrder.objects.count() == 0

    def test_blocked_by_contraindication(self, role_client, dm_patient, dm_indication, frozen_today):
        dm_patient.iga_status = "deficient_anti_iga"
        dm_patient.save()
        client = role_client("physician")
        response = _place(client, self.url(dm_patient), _form(dm_indication))
        assert "Contraindicated: IgA deficiency" in str(response.context["form"].non_field_errors())
        assert "Reason to give IVIG despite the contraindication" in response.content.decode()
        assert DoseOrder.objects.count() == 0
        _place(
            client, self.url(dm_patient), _form(dm_indication, override_reason="Benefit outweighs risk; premedicated")
        )
        assert DoseOrder.objects.get().contraindication_override["reason"] == "Benefit outweighs risk; premedicated"

    @pytest.mark.parametrize("role", ["pharmacist", "nurse", "viewer"])
    def test_only_physicians_prescribe(self, role_client, dm_patient, dm_indication, role):
        assert role_client(role).post(self.url(dm_patient), _form(dm_indication)).status_code == 403
        assert DoseOrder.objects.count() == 0

    def test_unknown_patient_404(self, role_client):
        assert (
            role_client("physician")
            .get(reverse("dosing:order_create", kwargs={"patient_uuid": "00000000-0000-0000-0000-000000000000"}))
            .status_code
            == 404
        )

    def test_wrong_method_405(self, role_client, dm_patient):
        assert role_client("physician").put(self.url(dm_patient)).status_code == 405


@pytest.mark.django_db
class TestOrderVerify:
    def url(self, order):
        return reverse("dosing:order_verify", kwargs={"order_uuid": order.uuid})

    def test_pharmacist_verifies(self, role_client, make_order):
        order = make_order()
        response = role_client("pharmacist").post(
            self.url(order), {"action": "verify", "checked": "on", "version": "1"}
        )
        order.refresh_from_db()
        assert response.status_code == 302 and order.status == OrderStatus.VERIFIED

    def test_verify_requires_the_check_box(self, role_client, make_order):
        order = make_order()
        response = role_client("pharmacist").post(self.url(order), {"action": "verify", "version": "1"})
        assert "checked" in response.context["verify_form"].errors
        order.refresh_from_db()
        assert order.status == OrderStatus.AWAITING_VERIFICATION

    def test_reject_with_reason(self, role_client, make_order):
        order = make_order()
        client = role_client("pharmacist")
        assert (
            "reason"
            in client.post(self.url(order), {"action": "reject", "reject-reason": "", "reject-version": "1"})
            .context["reject_form"]
            .errors
        )
        client.post(
            self.url(order), {"action": "reject", "reject-reason": "Weight is 3 months old", "reject-version": "1"}
        )
        order.refresh_from_db()
        assert order.status == OrderStatus.REJECTED

    def test_own_order_cannot_be_verified(self, client, make_order, make_user):
        user = make_user("physician")
        user.groups.add(*make_user("pharmacist").groups.all())
        order = make_order(by=user)
        client.force_login(user)
        response = client.post(self.url(order), {"action": "verify", "checked": "on", "version": "1"})
        assert "another pharmacist" in str(response.context["verify_form"].non_field_errors())
        order.refresh_from_db()
        assert order.status == OrderStatus.AWAITING_VERIFICATION

    @pytest.mark.parametrize("role", ["physician", "nurse", "viewer"])
    def test_others_cannot_verify(self, role_client, make_order, role):
        order = make_order()
        assert (
            role_client(role).post(self.url(order), {"action": "verify", "checked": "on", "version": "1"}).status_code
            == 403
        )

    def test_unknown_order_404_and_wrong_method_405(self, role_client, make_order):
        client = role_client("pharmacist")
        assert (
            client.get(
                reverse("dosing:order_verify", kwargs={"order_uuid": "00000000-0000-0000-0000-000000000000"})
            ).status_code
            == 404
        )
        assert client.put(self.url(make_order())).status_code == 405


@pytest.mark.django_db
class TestOrderPages:
    def test_detail_shows_the_plan_and_history(self, role_client, make_order):
        order = make_order()
        response = role_client("viewer").get(order.get_absolute_url())
        assert response.status_code == 200
        html = response.content.decode()
        assert "168.0" in html and "Awaiting pharmacist verification" in html and "prescribed" in html

    def test_list_filters_pending(self, role_client, make_order, make_user):
        pending = make_order()
        verified = make_order()
        dose_order_verify(by=make_user("pharmacist"), order=verified)
        page = role_client("nurse").get(reverse("dosing:order_list"), {"status": "pending"}).context["page"]
        assert [order.pk for order in page] == [pending.pk]

    def test_cancel_by_physician(self, role_client, make_order):
        order = make_order()
        url = reverse("dosing:order_cancel", kwargs={"order_uuid": order.uuid})
        assert role_client("nurse").post(url, {"reason": "x", "version": "1"}).status_code == 403
        assert "reason" in role_client("physician").post(url, {"reason": "", "version": "1"}).context["form"].errors
        role_client("physician").post(url, {"reason": "Patient declined", "version": "1"})
        order.refresh_from_db()
        assert order.status == OrderStatus.CANCELLED

    def test_patient_page_lists_orders(self, role_client, make_order, dm_patient):
        make_order()
        html = role_client("viewer").get(dm_patient.get_absolute_url()).content.decode()
        assert "Octagam 10%" in html and "New dose order" not in html
        assert "New dose order" in role_client("physician").get(dm_patient.get_absolute_url()).content.decode()


@pytest.mark.django_db
class TestInfusionSheet:
    def url(self, order, day=1):
        return reverse("dosing:order_sheet", kwargs={"order_uuid": order.uuid, "day": day})

    def test_sheet_has_clock_times_vials_and_blanks(self, role_client, make_order, make_user):
        order = make_order()
        dose_order_verify(by=make_user("pharmacist"), order=order)
        response = role_client("nurse").get(self.url(order, 2), {"start": "08:30", "date": "2026-11-23"})
        assert response.status_code == 200
        html = response.content.decode()
        assert "day 2 of 2" in html
        assert "08:30–09:00" in html and "09:00–09:30" in html and "09:30–13:18" in html  # 288 min from 08:30
        assert "168.0" in html and "700 mL" in html  # pump rates keep one decimal, as the pump shows them
        assert "2 × 30 g" in html and "1 × 10 g" in html
        assert html.count('<td class="w-50" data-label="Lot number"></td>') == 3  # a lot-number row per vial
        assert "within 72 h" in html  # last day of the cycle
        assert "maltose" in html

    def test_clock_times_are_right_across_the_daylight_saving_change(self, role_client, make_order, make_user):
        """14 Mar 2027, clocks go from 02:00 to 03:00 in New York: 30 min after 01:30 is 03:00."""
        order = make_order()
        dose_order_verify(by=make_user("pharmacist"), order=order)
        html = role_client("nurse").get(self.url(order), {"start": "01:00", "date": "2027-03-14"}).content.decode()
        assert "01:00–01:30" in html and "01:30–03:00" in html and "03:00–06:48" in html
        assert "01:00 · 06:48" in html

    def test_at_risk_sheet_adds_hydration(self, role_client, make_order, make_user, dm_patient):
        from patients.tests.factories import RiskFactorFactory

        RiskFactorFactory(patient=dm_patient, kind="venous_thrombosis", noted_on=date(2024, 1, 1))
        order = make_order()
        dose_order_verify(by=make_user("pharmacist"), order=order)
        html = role_client("nurse").get(self.url(order)).content.decode()
        assert "hydrated" in html and "138.6" in html

    def test_unverified_order_has_no_sheet(self, role_client, make_order):
        assert role_client("nurse").get(self.url(make_order())).status_code == 403

    def test_day_outside_the_cycle_404(self, role_client, make_order, make_user):
        order = make_order()
        dose_order_verify(by=make_user("pharmacist"), order=order)
        assert role_client("nurse").get(self.url(order, 3)).status_code == 404

    def test_no_role_403(self, role_client, make_order):
        assert role_client(None).get(self.url(make_order())).status_code == 403


@pytest.mark.django_db
class TestTwoBrowsers:
    """A pharmacist and a physician both open the order at version 1; the first to save wins,
    the second is shown the order as it is now with what happened, and nothing of theirs is written."""

    @staticmethod
    def browser(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    @staticmethod
    def urls(order):
        return (
            reverse("dosing:order_verify", kwargs={"order_uuid": order.uuid}),
            reverse("dosing:order_cancel", kwargs={"order_uuid": order.uuid}),
        )

    def test_cancel_first_then_verify_is_refused(self, make_order, make_user, frozen_today):
        order = make_order()
        verify_url, cancel_url = self.urls(order)
        pharmacist = self.browser(make_user("pharmacist"))
        physician = self.browser(make_user("physician", first_name="Dana", last_name="Reyes"))
        assert pharmacist.get(verify_url).context["verify_form"]["version"].value() == 1
        assert physician.get(cancel_url).context["form"]["version"].value() == 1

        assert physician.post(cancel_url, {"reason": "Patient declined", "version": "1"}).status_code == 302
        history_rows = order.history.count()
        response = pharmacist.post(verify_url, {"action": "verify", "checked": "on", "version": "1"})

        assert response.status_code == 409
        assert response.context["verify_form"].non_field_errors() == [
            "This order was changed by Dana Reyes at 2026-11-22 12:00 (now: Cancelled) after you opened it. "
            "Nothing was saved — review the order as it is now and try again."
        ]
        assert "Nothing was saved" in response.content.decode()
        assert response.context["order"].status == OrderStatus.CANCELLED  # the page shows it as it is now
        order.refresh_from_db()
        assert (order.status, order.verified_by, order.version) == (OrderStatus.CANCELLED, None, 2)
        assert order.history.count() == history_rows

    def test_verify_first_then_cancel_is_refused_then_succeeds_knowingly(self, make_order, make_user):
        order = make_order()
        verify_url, cancel_url = self.urls(order)
        pharmacist = self.browser(make_user("pharmacist"))
        physician = self.browser(make_user("physician"))
        pharmacist.get(verify_url)
        physician.get(cancel_url)

        assert pharmacist.post(verify_url, {"action": "verify", "checked": "on", "version": "1"}).status_code == 302
        response = physician.post(cancel_url, {"reason": "Patient declined", "version": "1"})
        assert response.status_code == 409
        assert "(now: Verified)" in str(response.context["form"].non_field_errors())
        order.refresh_from_db()
        assert (order.status, order.version) == (OrderStatus.VERIFIED, 2)
        # The page now shows the verified order and posts its version: cancelling it anyway is a choice.
        form = response.context["form"]
        assert form["version"].value() == "2" and form["reason"].value() == "Patient declined"
        assert 'name="version" value="2"' in response.content.decode()
        assert physician.post(cancel_url, {"reason": "Patient declined", "version": "2"}).status_code == 302
        order.refresh_from_db()
        assert (order.status, order.version) == (OrderStatus.CANCELLED, 3)

    def test_a_replayed_post_is_refused(self, make_order, make_user):
        order = make_order()
        verify_url, _ = self.urls(order)
        pharmacist = self.browser(make_user("pharmacist"))
        assert pharmacist.post(verify_url, {"action": "verify", "checked": "on", "version": "1"}).status_code == 302
        replay = {"action": "reject", "reject-reason": "Wrong weight", "reject-version": "1"}
        response = pharmacist.post(verify_url, replay)
        assert response.status_code == 409
        assert "(now: Verified)" in str(response.context["reject_form"].non_field_errors())
        order.refresh_from_db()
        assert (order.status, order.status_reason, order.version) == (OrderStatus.VERIFIED, "", 2)

    def test_a_post_without_a_version_writes_nothing(self, make_order, make_user):
        order = make_order()
        verify_url, cancel_url = self.urls(order)
        response = self.browser(make_user("pharmacist")).post(verify_url, {"action": "verify", "checked": "on"})
        assert response.status_code == 409  # a stale page, as everywhere (accounts.form_errors.PageVersionMixin)
        assert "This page is out of date" in response.content.decode()
        response = self.browser(make_user("physician")).post(cancel_url, {"reason": "x"})
        assert "This page is out of date" in str(response.context["form"].non_field_errors())
        order.refresh_from_db()
        assert (order.status, order.version) == (OrderStatus.AWAITING_VERIFICATION, 1)


@pytest.mark.django_db
class TestOrderListWorklists:
    """The list opens on the role's worklist, says which one, and can be changed to All."""

    url = reverse("dosing:order_list")

    @pytest.fixture
    def orders(self, make_order, make_user):
        doctor = make_user("physician")
        pending = make_order(by=doctor)
        verified = make_order()
        dose_order_verify(by=make_user("pharmacist"), order=verified)
        return {"pending": pending, "verified": verified, "doctor": doctor}

    @pytest.mark.parametrize(("role", "opens_on"), [
        ("pharmacist", "pending"),
        ("nurse", "to_schedule"),
        ("physician", "mine"),
        ("viewer", "all"),
    ])  # fmt: skip
    def test_opens_on_the_filter_that_fits_the_role(self, role_client, orders, role, opens_on):
        response = role_client(role).get(self.url)
        assert response.status_code == 200 and response.context["status"] == opens_on
        html = response.content.decode()
        assert f'class="nav-link active" aria-current="page" href="?status={opens_on}"' in html
        assert 'href="?status=all">All</a>' in html

    def test_each_worklist_lists_its_orders(self, client, orders):
        client.force_login(orders["doctor"])

        def listed(status):
            return [order.pk for order in client.get(self.url, {"status": status}).context["page"]]

        assert listed("pending") == [orders["pending"].pk]
        assert listed("to_schedule") == [orders["verified"].pk]
        assert listed("mine") == [orders["pending"].pk]  # the physician's own prescriptions
        assert sorted(listed("all")) == sorted([orders["pending"].pk, orders["verified"].pk])
        assert listed("verified") == [orders["verified"].pk]

    @pytest.mark.parametrize("status", ["", "catastrophic"])
    def test_an_empty_or_unknown_filter_shows_all(self, role_client, orders, status):
        response = role_client("nurse").get(self.url, {"status": status})
        assert response.context["status"] == "all" and len(response.context["page"]) == 2

    def test_to_schedule_offers_to_plan_a_course_to_nurses_only(self, role_client, orders):
        plan = reverse("scheduling:course_create", kwargs={"order_uuid": orders["verified"].uuid})
        nurse = role_client("nurse").get(self.url).content.decode()
        assert plan in nurse and "Plan infusion course" in nurse
        for role in ("viewer", "pharmacist", "physician"):
            html = role_client(role).get(self.url, {"status": "to_schedule"}).content.decode()
            assert orders["verified"].patient.mrn in html and plan not in html

    def test_the_patient_name_opens_the_patient(self, role_client, orders):
        patient = orders["verified"].patient
        html = role_client("viewer").get(self.url).content.decode()
        link = f'<a class="patient-link" href="{patient.get_absolute_url()}">'
        name = (
            f'<span class="text-nowrap"><bdi>{patient.mrn}</bdi></span> '
            f"<bdi>{patient.family_name}</bdi>, <bdi>{patient.given_name}</bdi></a>"
        )
        assert link + name in html

    def test_my_prescriptions_is_offered_to_prescribers(self, role_client, orders):
        assert "My prescriptions" in role_client("physician").get(self.url).content.decode()
        assert "My prescriptions" not in role_client("nurse").get(self.url).content.decode()


@pytest.mark.django_db
def test_the_order_page_shows_a_hyperprolinaemia_block(role_client, dm_patient, make_user):
    dm_patient.hyperprolinaemia = True
    dm_patient.save()
    order = dose_order_create(
        by=make_user("physician"),
        patient=dm_patient,
        indication=Indication.objects.get(product__slug="privigen", slug="chronic-itp"),
        dose_g_per_kg=Decimal("2"),
        days=2,
        weight_basis="auto",
        today=TODAY,
        override_reason="no other product available",
    )
    page = role_client("viewer").get(order.get_absolute_url()).content.decode()
    assert "Do not give as planned" in page
    assert "Hyperprolinaemia: Privigen 10% is stabilised with L-proline" in page
