"""The staff console on the Django admin: the user page shows what the apps above accounts hold
about a user (accounts' own admin cannot import them) and offers impersonation
(`console.impersonation`)."""

from __future__ import annotations

from django.contrib import admin

from accounts.admin import UserAdmin
from accounts.models import Impersonation, User
from billing.admin import EntitlementInline
from console.impersonation import ImpersonateUserMixin, ImpersonationAdmin

admin.site.unregister(User)


@admin.register(User)
class ConsoleUserAdmin(ImpersonateUserMixin, UserAdmin):
    # Saving the inline grants manual plans and syncs subscription_plan/status from entitlements.
    inlines = (*UserAdmin.inlines, EntitlementInline)


admin.site.register(Impersonation, ImpersonationAdmin)
