"""``{% load workspace_panels %}{% render_panels "app" "cards" %}``: the panels the apps above
registered for a slot of a ground-floor page (``workspaces.panels``), in order, each rendered
with the page's context plus its own values. ``{% render_panels "app" "links" as links %}``
gives the list instead, for a page that lays the pieces out itself."""

from __future__ import annotations

from typing import Any

from django import template

from .. import panels

register = template.Library()


class RenderedPanels(list):  # type: ignore[type-arg]
    """The HTML of each panel; rendered as a whole, the pieces one after another."""

    def __html__(self) -> str:
        return "".join(self)


@register.simple_tag(takes_context=True)
def render_panels(context: Any, page: str, slot: str) -> RenderedPanels:
    rendered = RenderedPanels()
    for panel in panels.panels_for(page, slot):
        values = panel.context_fn(context) if panel.context_fn is not None else {}
        if values is None:
            continue
        tpl = context.template.engine.get_template(panel.template)
        with context.push(**values):
            rendered.append(tpl.render(context))
    return rendered
