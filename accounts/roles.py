"""The clinic's roles and what each may do: the single source for the role
groups. Data migrations call `sync_role_groups`; the README's role matrix and
tests read ROLE_PERMISSIONS.

Adding permissions for a new app: extend the lists here and add a data
migration in that app that calls `sync_role_groups` after its models exist.
"""

PHYSICIAN = "physician"
PHARMACIST = "pharmacist"
NURSE = "nurse"
VIEWER = "viewer"
ROLES = (PHYSICIAN, PHARMACIST, NURSE, VIEWER)

_VIEW_REGISTRY = [
    "patients.view_patient",
    "patients.view_bodymeasurement",
    "patients.view_labresult",
    "patients.view_medication",
    "patients.view_riskfactor",
    "dosing.view_product",
    "dosing.view_productpresentation",
    "dosing.view_indication",
    "dosing.view_sitesettings",
    "dosing.view_doseorder",
    "visits.view_visit",
    "risk.view_riskflag",
    "scheduling.view_course",
    "scheduling.view_infusionsession",
    "scheduling.view_infusionrecord",
    "scheduling.view_unitsettings",
    "scheduling.view_reminder",
    "dosing.view_treatmentcourse",
    "pathway.view_review",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    # Prescribes and records visits: owns the clinical record.
    PHYSICIAN: _VIEW_REGISTRY
    + [
        "patients.add_patient",
        "patients.change_patient",
        "patients.add_bodymeasurement",
        "patients.change_bodymeasurement",
        "patients.delete_bodymeasurement",
        "patients.add_labresult",
        "patients.change_labresult",
        "patients.delete_labresult",
        "patients.add_medication",
        "patients.change_medication",
        "patients.delete_medication",
        "patients.add_riskfactor",
        "patients.change_riskfactor",
        "patients.delete_riskfactor",
        "dosing.add_doseorder",
        "dosing.change_doseorder",  # cancel an order
        "dosing.add_treatmentcourse",  # started with the first order for an indication
        "dosing.change_treatmentcourse",  # edit or renew the authorisation
        "pathway.add_review",  # record a stewardship review's decision
        "pathway.change_review",  # void a review recorded in error
        "visits.add_visit",
        "visits.change_visit",
        "risk.acknowledge_riskflag",
        "scheduling.change_reminder",
        # Submits the clinic's data to a registry or a study (FHIR bulk $export of every patient):
        # the physician lead answers for what leaves the clinic; no other role needs every record.
        "fhir.export_bulk",
    ],
    # Verifies orders and keeps the product catalog; reconciles medications.
    PHARMACIST: _VIEW_REGISTRY
    + [
        "patients.add_medication",
        "patients.change_medication",
        "dosing.verify_doseorder",
        "dosing.change_product",
        "dosing.add_productpresentation",  # a GTIN for the site's stock
        "dosing.change_productpresentation",  # withdraw a GTIN put on file by mistake
        "dosing.change_indication",
        "dosing.change_sitesettings",
        "risk.acknowledge_riskflag",
        "scheduling.change_reminder",
    ],
    # Schedules and runs infusions: weighs the patient at the chair, enters results received.
    NURSE: _VIEW_REGISTRY
    + [
        "patients.add_bodymeasurement",
        "patients.change_bodymeasurement",
        "patients.delete_bodymeasurement",
        "patients.add_labresult",
        "risk.acknowledge_riskflag",
        "scheduling.add_course",
        "scheduling.change_course",
        "scheduling.add_infusionsession",
        "scheduling.change_infusionsession",
        "scheduling.add_infusionrecord",
        "scheduling.change_infusionrecord",
        "scheduling.change_unitsettings",
        "scheduling.change_reminder",
    ],
    VIEWER: list(_VIEW_REGISTRY),
}


def sync_role_groups(apps, schema_editor=None) -> None:
    """Create the role groups and give each exactly the permissions listed above
    that exist so far (later apps' permissions are added by their own migrations)."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        wanted = []
        for name in names:
            app_label, codename = name.split(".")
            wanted.extend(permission_model.objects.filter(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)


def roles_of(user) -> list[str]:
    from .auth_backend import group_names_of

    return sorted(name for name in group_names_of(user) if name in ROLES)
