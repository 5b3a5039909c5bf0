import pytest
from django.template.loader import render_to_string

from patients.templatetags.patient_links import patient_link
from patients.tests.factories import PatientFactory


@pytest.mark.django_db
def test_the_tag_and_the_include_name_the_patient_alike():
    patient = PatientFactory(mrn="0042", family_name="O'Hara <b>", given_name="Ana")
    url = patient.get_absolute_url()
    assert patient_link(patient) == (
        f'<a class="patient-link" href="{url}"><span class="text-nowrap"><bdi>0042</bdi></span> '
        "<bdi>O&#x27;Hara &lt;b&gt;</bdi>, <bdi>Ana</bdi></a>"
    )
    stacked = patient_link(patient, anchor="#flags", stacked=True)
    assert stacked.startswith(f'<a class="patient-link" href="{url}#flags">') and "</span><br><bdi>" in stacked
    include = render_to_string("patients/_patient_link.html", {"patient": patient, "anchor": "#flags", "stacked": True})
    assert include.strip() == stacked
    patient.url = "/kept/prefix/"  # a list that built its URLs from one reversed prefix
    assert 'href="/kept/prefix/"' in patient_link(patient)
