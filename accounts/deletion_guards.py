"""Users are deactivated, never deleted, once they have history: deleting one would set the
"who" of every history row they wrote to NULL (simple-history's history_user is SET_NULL), and
the audit trail could no longer say who did what. A delete by any path (the admin, the shell, a
queryset) is refused before anything is written; the admin does not offer it (accounts.admin)."""

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db.models import ProtectedError
from django.db.models.signals import pre_delete


def history_models() -> list:
    """Every historical model whose rows name the user who made them (``history_user``)."""
    user_model = get_user_model()
    found = []
    for model in apps.get_models():
        field = next((f for f in model._meta.get_fields() if f.name == "history_user"), None)
        if field is not None and getattr(field, "related_model", None) is user_model:
            found.append(model)
    return found


def user_has_history(user) -> bool:
    """Whether any audit row anywhere names this user as the one who made the change."""
    return any(model.objects.filter(history_user_id=user.pk).exists() for model in history_models())


class UserHasHistory(ProtectedError):
    pass


def refuse_deleting_users_with_history(sender, instance, **kwargs) -> None:
    if instance.pk is not None and user_has_history(instance):
        raise UserHasHistory(
            f"The user “{instance.get_username()}” has history in the audit trail and cannot be deleted: "
            "deactivate the account instead (untick “Active”), so that every record still says who made it.",
            {instance},
        )


def connect() -> None:
    pre_delete.connect(
        refuse_deleting_users_with_history, sender=get_user_model(), dispatch_uid="accounts.user_history_guard"
    )
