"""Admin for the inventory. Every write goes through terminals.services, so the admin leaves
the same audit events and movements as the pages; statuses and a terminal's location change
only through the services' transitions and are read-only here."""

from django import forms
from django.contrib import admin

from core.admin import ReadOnlyAdmin
from core.identifiers import normalise_identifier
from terminals import services
from terminals.models import AccessCard, Location, Movement, Terminal, TerminalAddress
from terminals.validators import validate_identifier


def _identifier(form: forms.ModelForm, field: str) -> str:
    """An asset tag or card number as the service stores it (full width and lower case typed in
    the admin too) and under its rules, checked here: an error the service raised in save_model
    would not reach the form."""
    value = normalise_identifier(form.cleaned_data[field])
    validate_identifier(value)
    return value


class TerminalAdminForm(forms.ModelForm):
    def clean_asset_tag(self) -> str:
        return _identifier(self, "asset_tag")


class AccessCardAdminForm(forms.ModelForm):
    def clean_card_number(self) -> str:
        return _identifier(self, "card_number")


class LocationAdminForm(forms.ModelForm):
    class Meta:
        model = Location
        fields = ("code", "name", "kind", "parent", "custodian", "secured", "address")

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None:
            errors = services.location_errors(
                code=cleaned.get("code", ""),
                kind=cleaned.get("kind", ""),
                parent=cleaned.get("parent"),
            )
            for field, messages in errors.items():
                # A field with an error is left out of the model's own checks, so the generic
                # "constraint violated" message does not repeat the specific one.
                if field not in self.errors:
                    self.add_error(field, messages)
        return cleaned


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    form = LocationAdminForm
    list_display = ("code", "name", "kind", "parent", "site", "custodian", "secured")
    list_filter = ("kind", "secured", "custodian")
    list_select_related = ("parent", "site", "custodian")
    search_fields = ("code", "name")
    autocomplete_fields = ("parent",)
    fields = ("code", "name", "kind", "parent", "site", "custodian", "secured", "address")

    def get_readonly_fields(self, request, obj=None):
        # The tree (and the path computed from it) is fixed once a location exists.
        return ("code", "kind", "parent", "site") if obj else ("site",)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        if change:
            services.location_update(
                location=obj,
                actor=request.user,
                name=obj.name,
                custodian=obj.custodian,
                secured=obj.secured,
                address=obj.address,
                stocktake_interval_days=(
                    obj.stocktake_interval_days if obj.kind == Location.Kind.SITE else None
                ),
            )
            return
        created = services.location_create(
            actor=request.user,
            code=obj.code,
            name=obj.name,
            kind=obj.kind,
            parent=obj.parent,
            custodian=obj.custodian,
            secured=obj.secured,
            address=obj.address,
        )
        obj.pk = created.pk
        obj.refresh_from_db()


@admin.register(Terminal)
class TerminalAdmin(admin.ModelAdmin):
    form = TerminalAdminForm
    list_display = ("asset_tag", "hostname", "model_name", "status", "location", "custodian")
    list_filter = ("status", "custodian", "location__site")
    list_select_related = ("location", "custodian")
    search_fields = ("asset_tag", "serial_number", "hostname")
    autocomplete_fields = ("location",)
    fields = (
        "asset_tag",
        "serial_number",
        "hostname",
        "model_name",
        "status",
        "location",
        "custodian",
        "notes",
        "created_at",
        "updated_at",
    )

    def get_readonly_fields(self, request, obj=None):
        always = ("status", "created_at", "updated_at")
        return ("asset_tag", "location", *always) if obj else always

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        if change:
            services.terminal_update(
                terminal=obj,
                actor=request.user,
                serial_number=obj.serial_number,
                hostname=obj.hostname,
                model_name=obj.model_name,
                custodian=obj.custodian,
                notes=obj.notes,
            )
            return
        created = services.terminal_create(
            actor=request.user,
            asset_tag=obj.asset_tag,
            location=obj.location,
            custodian=obj.custodian,
            serial_number=obj.serial_number,
            hostname=obj.hostname,
            model_name=obj.model_name,
            notes=obj.notes,
        )
        obj.pk = created.pk
        obj.refresh_from_db()


@admin.register(Movement)
class MovementAdmin(ReadOnlyAdmin):
    list_display = (
        "occurred_at",
        "terminal",
        "from_status",
        "to_status",
        "from_location",
        "to_location",
        "actor",
        "reason",
    )
    list_filter = ("to_status",)
    list_select_related = ("terminal", "from_location", "to_location", "actor")
    search_fields = ("terminal__asset_tag", "reason")
    date_hierarchy = "occurred_at"


@admin.register(AccessCard)
class AccessCardAdmin(admin.ModelAdmin):
    form = AccessCardAdminForm
    list_display = ("card_number", "kind", "status", "location", "terminal")
    list_filter = ("kind", "status")
    list_select_related = ("location", "terminal")
    search_fields = ("card_number", "terminal__asset_tag")
    autocomplete_fields = ("location", "terminal")
    fields = ("card_number", "kind", "status", "location", "terminal", "notes")

    def get_readonly_fields(self, request, obj=None):
        return ("card_number", "kind", "status") if obj else ("status",)

    def has_change_permission(self, request, obj=None) -> bool:
        # The service refuses to change a lent card until it is back: show it read-only.
        if obj is not None and obj.status == AccessCard.Status.LENT:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        if change:
            services.access_card_update(
                card=obj,
                actor=request.user,
                location=obj.location,
                terminal=obj.terminal,
                notes=obj.notes,
            )
            return
        created = services.access_card_create(
            actor=request.user,
            card_number=obj.card_number,
            kind=obj.kind,
            location=obj.location,
            terminal=obj.terminal,
            notes=obj.notes,
        )
        obj.pk = created.pk


# Addresses are set on the terminal's page and API (terminals.services checks and audits them).
@admin.register(TerminalAddress)
class TerminalAddressAdmin(ReadOnlyAdmin):
    list_display = ("address", "terminal")
    list_select_related = ("terminal",)
    search_fields = ("address", "terminal__asset_tag")
