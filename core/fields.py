"""A code people type (an organization's, a location's, a target system's) in its one form
(core.identifiers.normalise_code), whichever edge it comes through: the model field normalises
what is stored and every lookup on it (`code=`, `location__code__in=`, a SlugRelatedField, a
ModelChoiceField), so HONTEN, ｈｏｎｔｅｎ and honten are one site; the form field normalises
before the slug rule is checked."""

from django import forms
from django.db import models

from core.identifiers import normalise_code


class CodeFormField(forms.SlugField):
    def to_python(self, value):
        value = super().to_python(value)
        return normalise_code(value) if value else value


class CodeField(models.SlugField):
    def to_python(self, value):
        # Model.clean_fields, saves and lookups all come through here (get_prep_value).
        value = super().to_python(value)
        return normalise_code(value) if isinstance(value, str) else value

    def pre_save(self, model_instance, add):
        # The instance shows what was stored, not what was typed.
        value = self.to_python(getattr(model_instance, self.attname))
        setattr(model_instance, self.attname, value)
        return value

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": CodeFormField, **kwargs})
