"""Values people type that must be one value however they are typed, whichever edge they come
through: the model field normalises what is stored and every lookup on it (`code=`,
`location__code__in=`, a SlugRelatedField, a ModelChoiceField, the sign-in's
`get_by_natural_key`), so HONTEN, ｈｏｎｔｅｎ and honten are one site, and Yamada and yamada one
person; the form field normalises before the slug rule is checked."""

from django import forms
from django.db import models

from core.identifiers import normalise_code


class CodeFormField(forms.SlugField):
    def to_python(self, value):
        value = super().to_python(value)
        return normalise_code(value) if value else value


class _OneForm:
    """Stored and looked up in the form core.identifiers.normalise_code gives (trimmed, NFKC,
    lower case)."""

    def to_python(self, value):
        # Model.clean_fields, saves and lookups all come through here (get_prep_value).
        value = super().to_python(value)  # type: ignore[misc]
        return normalise_code(value) if isinstance(value, str) else value

    def pre_save(self, model_instance, add):
        # The instance shows what was stored, not what was typed.
        value = self.to_python(getattr(model_instance, self.attname))  # type: ignore[attr-defined]
        setattr(model_instance, self.attname, value)  # type: ignore[attr-defined]
        return value


class CodeField(_OneForm, models.SlugField):
    """An organization's, a location's or a target system's code."""

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": CodeFormField, **kwargs})


class UsernameField(_OneForm, models.CharField):
    """A person's username: two people cannot be Yamada and yamada, and either signs in however
    they type it."""
