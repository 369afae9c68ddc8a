"""Extension points ("panels") of the ground floor's pages, filled by the apps above.

``workspaces`` sits at the bottom of the house and names no app above it; yet an app's page
shows the app's connectors, catalog integrations and whether it receives workspace secrets.
Those apps register a panel in their ``AppConfig.ready()``::

    from workspaces import panels
    panels.register("connectors.link", "connectors/_app_link.html", order=10,
                    page="app", slot="links")

and ``templates/workspaces/app_detail.html`` renders what is registered, slot by slot, with
``{% load workspace_panels %}{% render_panels "app" "links" as links %}``.

- ``template``: rendered with the page's context (``app``, ``workspace``, ``membership``,
  ``request``, ``csrf_token``...), plus what ``context_fn`` returns;
- ``context_fn(context) -> dict | None``: the panel's own values, computed when the page
  renders; ``None`` leaves the panel out (e.g. nothing to show);
- ``order``: panels of a slot render by ``(order, name)``;
- slots of the app page: ``links`` (the line of links under the app id), ``notices`` (alerts
  above the page) and ``cards`` (sections after "Use it from the SDK").

Registering the same name again replaces the panel (``ready()`` may run twice in tests).

The workspace navigation (``base.html``'s section links, ``context_processors.workspace_nav``)
works the same way: ``register_nav(label, url_name, order)``, a URL name taking the workspace
id; the ground floor's own sections (Apps, Members, Settings) are registered here (Credits, which
reads the call log, by ``integrations``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

ContextFn = Callable[[Any], Mapping[str, Any] | None]

PAGES: dict[str, tuple[str, ...]] = {"app": ("links", "notices", "cards")}


@dataclass(frozen=True)
class Panel:
    name: str
    template: str
    context_fn: ContextFn | None
    order: int
    page: str
    slot: str


_registry: dict[str, Panel] = {}


def register(name: str, template: str, context_fn: ContextFn | None = None, order: int = 100,
             *, page: str = "app", slot: str = "cards") -> Panel:
    """Add (or replace) the panel ``name`` on ``page`` in ``slot``."""
    if slot not in PAGES.get(page, ()):
        raise ValueError(f"Unknown panel slot {page!r}/{slot!r}; known: {PAGES}")
    panel = Panel(name, template, context_fn, order, page, slot)
    _registry[name] = panel
    return panel


def unregister(name: str) -> None:
    _registry.pop(name, None)


def panels_for(page: str, slot: str) -> list[Panel]:
    """The panels of one slot, in render order."""
    return sorted((p for p in _registry.values() if p.page == page and p.slot == slot),
                  key=lambda p: (p.order, p.name))


_nav: dict[str, tuple[int, str, str | None]] = {}


def register_nav(label: str, url_name: str | None, order: int) -> None:
    """Add (or replace) the workspace section ``label``, linking to ``url_name`` (which takes
    the workspace id; None: shown as "soon")."""
    _nav[label] = (order, label, url_name)


def nav_sections() -> list[tuple[str, str | None]]:
    """``(label, url name)`` of each workspace section, in order."""
    return [(label, url_name) for _order, label, url_name in sorted(_nav.values())]


register_nav("Apps", "apps", 10)
register_nav("Members", "members", 90)
register_nav("Settings", "workspace-settings", 100)
