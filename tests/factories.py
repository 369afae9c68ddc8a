from __future__ import annotations

import factory

from workspaces import services
from workspaces.models import App, Membership, Role, User, Workspace

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_it(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()


def shared_workspace(owner: User, name: str = "Acme", plan: str = "builder") -> Workspace:
    return services.create_workspace(actor=owner, name=name, plan=plan)


def add_member(workspace: Workspace, user: User, role: str = Role.MEMBER) -> Membership:
    return Membership.objects.create(workspace=workspace, user=user, role=role)


def make_app(workspace: Workspace, creator: User, name: str = "Storefront", **kw) -> App:
    return services.create_app(workspace, actor=creator, name=name, **kw)
