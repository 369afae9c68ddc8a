from django.apps import AppConfig


class CatalogConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "catalog"

    def ready(self) -> None:
        from workspaces import panels

        from . import tasks  # noqa: F401  (registers the Celery tasks services queue by name)

        panels.register_nav("Catalog", "catalog", 60)

        # The app page (workspaces) links to the catalog integrations installed in the app.
        panels.register("catalog.link", "catalog/_app_link.html", order=20, slot="links")
