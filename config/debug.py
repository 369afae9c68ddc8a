"""What Django's error reports (the 500 e-mail to ADMINS, the DEBUG page) hide."""

import re

from django.views.debug import SafeExceptionReporterFilter


class ReporterFilter(SafeExceptionReporterFilter):
    # Django's default list, plus BEHALF: an SDK service-role call carries the end user's
    # token in the `on-behalf-of` header (HTTP_ON_BEHALF_OF), which the default shows.
    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|BEHALF", flags=re.I)
