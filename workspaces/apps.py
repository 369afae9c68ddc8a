from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "workspaces"
    verbose_name = "Workspaces, apps and credits"

    def ready(self) -> None:
        from . import tasks  # noqa: F401  (registers the Celery tasks services queue by name)
        from .api import schema  # noqa: F401  (registers the OpenAPI auth extensions)
