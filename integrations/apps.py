from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "integrations"

    def ready(self) -> None:
        from workspaces import panels

        panels.register_nav("Integrations", "integrations", 20)
        panels.register_nav("Calls", "calls", 30)
        panels.register_nav("Credits", "workspace-credits", 80)

        from workspaces import plan_impact

        from .usage import plan_downgrade_impact

        plan_impact.register("integrations", plan_downgrade_impact)

        from . import tasks  # noqa: F401  (registers the Celery tasks services queue by name)
