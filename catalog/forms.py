from __future__ import annotations

from typing import Any

from django import forms

from secrets_vault.naming import SECRET_VALUE_MAX
from workspaces.models import App

from .models import CatalogIntegration, Category, Visibility
from .prompt_checks import how_to_get_problem, secret_name_problem, url_problem
from .services import DECISIONS


class IntegrationForm(forms.Form):
    name = forms.CharField(max_length=100)
    slug = forms.SlugField(max_length=60, help_text="Lowercase letters, digits and hyphens: "
                                                    "how apps and tooling refer to it.")
    short_description = forms.CharField(max_length=200)
    category = forms.ChoiceField(choices=Category.choices, initial=Category.OTHER)
    visibility = forms.ChoiceField(
        choices=Visibility.choices, initial=Visibility.PRIVATE, widget=forms.RadioSelect,
        help_text="Private: your workspace's private catalog, usable by every member at once. "
                  "Public: submitted for review; after approval it is in the public catalog for "
                  "everyone, and your workspace earns credits.")
    backend_function = forms.BooleanField(
        required=False, initial=True, label="Backend function",
        help_text="Keep it on: the API is called from a backend function, so keys stay on the "
                  "server and are never exposed to end users.")
    doc_links = forms.CharField(
        required=False, label="Documentation links", widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Optional. One URL per line.")
    prompt = forms.CharField(
        label="Integration prompt", strip=False,
        widget=forms.Textarea(attrs={"rows": 28, "class": "mono", "spellcheck": "false"}),
        help_text="Markdown. Recommended sections: Overview; Environment Variables (a JSON list "
                  "of {name, description, how_to_get}); Backend Function code; Frontend "
                  "(optional); Usage & Examples; Research Summary & Resources.")

    def clean_doc_links(self) -> list[str]:
        links = [line.strip() for line in self.cleaned_data["doc_links"].splitlines()
                 if line.strip()]
        for link in links:
            problem = url_problem(link)
            if problem:
                raise forms.ValidationError(f"“{link}” {problem}.")
        return links

    @classmethod
    def initial_for(cls, integration: CatalogIntegration) -> dict[str, Any]:
        data = integration.content()
        data["doc_links"] = "\n".join(integration.doc_links or [])
        data["visibility"] = integration.visibility
        return data


class SecretForm(forms.Form):
    name = forms.CharField(max_length=100, required=False,
                           widget=forms.TextInput(attrs={"placeholder": "OPENAI_API_KEY",
                                                         "class": "mono"}))
    description = forms.CharField(max_length=300, required=False)
    how_to_get = forms.CharField(max_length=500, required=False, label="Where to get it",
                                 help_text="A URL or a short instruction.")

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        problem = secret_name_problem(name) if name else None
        if problem:
            raise forms.ValidationError(problem)
        return name

    def clean_how_to_get(self) -> str:
        how = self.cleaned_data["how_to_get"].strip()
        problem = how_to_get_problem(how)
        if problem:
            raise forms.ValidationError(f"This looks like a link but {problem}.")
        return how


class BaseSecretFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        if any(self.errors):
            return
        names = [f.cleaned_data.get("name") for f in self.forms
                 if f.cleaned_data.get("name") and not f.cleaned_data.get("DELETE")]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise forms.ValidationError(f"Declared twice: {', '.join(dups)}.")

    def secrets(self) -> list[dict[str, str]]:
        return [{k: f.cleaned_data.get(k, "") for k in ("name", "description", "how_to_get")}
                for f in self.forms
                if f.cleaned_data.get("name") and not f.cleaned_data.get("DELETE")]


SecretFormSet = forms.formset_factory(SecretForm, formset=BaseSecretFormSet, extra=1,
                                      can_delete=True, max_num=30, validate_max=True)


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", "Approve"), ("request_changes", "Request changes"),
                 ("reject", "Reject")], widget=forms.RadioSelect)
    comment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}),
                              help_text="Required when rejecting or requesting changes; the "
                                        "submitter sees it.")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        decision = data.get("decision")
        if decision and DECISIONS[decision].needs_comment and not data.get("comment", "").strip():
            self.add_error("comment", "Explain the decision: the submitter needs to know what to "
                                      "change.")
        return data


class ReviewFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search",
                        widget=forms.TextInput(attrs={"placeholder": "Name, slug, workspace, "
                                                                     "submitter"}))
    category = forms.ChoiceField(required=False, choices=[("", "Any category"),
                                                          *Category.choices])
    kind = forms.ChoiceField(required=False, choices=[("", "New and updates"),
                                                      ("new", "New integrations"),
                                                      ("update", "Updates of live ones")])
    status = forms.ChoiceField(required=False, choices=[("", "Waiting for review"),
                                                        ("decided", "Decided"),
                                                        ("all", "All")])


class CatalogFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", widget=forms.TextInput(attrs={
        "placeholder": "Name, description or slug", "type": "search"}))
    category = forms.ChoiceField(required=False, choices=[("", "Any category"),
                                                          *Category.choices])


class InstallAppForm(forms.Form):
    app = forms.ChoiceField(label="App",
                            widget=forms.Select(attrs={"data-submit-on-change": ""}))

    def __init__(self, *args: Any, apps: list[App], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["app"].choices = [("", "Choose an app…")] + [(a.public_id, a.name)
                                                                  for a in apps]


class InstallSecretsForm(forms.Form):
    """One password field per required secret, plus "keep the app's value" where it has one.

    Without `allow_values` (members who may not write secrets) it only shows what is set."""

    def __init__(self, *args: Any, secrets: list[dict[str, str]], scopes: dict[str, str],
                 allow_values: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.secret_rows = []
        for secret in secrets:
            name = secret["name"]
            scope = scopes.get(name)
            row: dict[str, Any] = {"secret": secret, "has": scope is not None, "scope": scope,
                                   "value": None, "reuse": None}
            if allow_values:
                if scope:
                    where = "this app's" if scope == "app" else "the workspace's"
                    # A typed value always wins: the box is ignored then (and static/js/forms.js
                    # unticks it as you type), so what is ticked matches what happens.
                    self.fields[f"reuse__{name}"] = forms.BooleanField(
                        required=False, initial=True,
                        label=f"Keep {where} current value (a value typed below replaces it)")
                attrs = {"autocomplete": "new-password"}
                if scope:
                    attrs["data-unticks"] = f"id_reuse__{name}"
                self.fields[f"value__{name}"] = forms.CharField(
                    required=False, label=name, strip=False, max_length=SECRET_VALUE_MAX,
                    widget=forms.PasswordInput(render_value=False, attrs=attrs),
                    help_text=secret.get("description", ""))
                row["value"] = self[f"value__{name}"]
                row["reuse"] = self[f"reuse__{name}"] if scope else None
            self.secret_rows.append(row)

    def values(self) -> dict[str, str]:
        return {k.removeprefix("value__"): v for k, v in self.cleaned_data.items()
                if k.startswith("value__") and v}

    def reuse(self) -> set[str]:
        """Secrets whose current app value is kept: ticked, and no new value typed."""
        return {k.removeprefix("reuse__") for k, v in self.cleaned_data.items()
                if k.startswith("reuse__") and v
                and not self.cleaned_data.get(f"value__{k.removeprefix('reuse__')}")}
