from django.core.management.base import BaseCommand
from django.db import transaction

from workspaces import services
from workspaces.models import App, User, Workspace


class Command(BaseCommand):
    help = "Create a demo owner, shared workspace and app (idempotent), and say how to sign in."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--email", default="demo@switchboard.local")
        parser.add_argument("--password", default="switchboard-demo")

    @transaction.atomic
    def handle(self, *args, email: str, password: str, **options):  # type: ignore[no-untyped-def]
        user = User.objects.filter(email=email).first()
        if user is None:
            user = services.sign_up(email=email, password=password, name="Demo Owner")
            user.is_staff = user.is_superuser = True
            user.save()
        ws = Workspace.objects.filter(memberships__user=user, name="Demo team").first()
        if ws is None:
            ws = services.create_workspace(actor=user, name="Demo team", plan="builder")
        if not App.objects.filter(workspace=ws).exists():
            services.create_app(ws, actor=user, name="Demo app")
        # A second staff user outside "Demo team": nobody reviews their own catalog submission,
        # so the demo user submits and this one approves (Review queue).
        reviewer_email = "reviewer@switchboard.local"
        if not User.objects.filter(email=reviewer_email).exists():
            reviewer = services.sign_up(email=reviewer_email, password=password,
                                        name="Demo Reviewer")
            reviewer.is_staff = True
            reviewer.save()
        self.stdout.write(self.style.SUCCESS(
            "\nSwitchboard is ready at http://127.0.0.1:8000\n"
            f"  sign in as {email} / {password}\n"
            "  (a staff user: the Django admin is at /admin/)\n"
            f"  catalog reviewer: {reviewer_email} / {password}\n"))
