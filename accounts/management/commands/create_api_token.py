"""Print a bearer token for a user: `create_api_token EMAIL [--scopes read,trade]`.

The token is the last line of the output, so scripts can take it with `tail -1`.
"""

import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model, set_token_value

from accounts.models import User

CLI_APPLICATION = "Kronos command line"


class Command(BaseCommand):
    help = "Create an OAuth2 bearer token for a user and print it as the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--scopes", default="read", help="Comma-separated: read, trade (default: read).")
        parser.add_argument("--days", type=int, default=30, help="Days until the token expires (default 30).")

    def handle(self, *args: Any, **options: Any) -> None:
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        known = set(settings.OAUTH2_PROVIDER["SCOPES"])
        unknown = [s for s in scopes if s not in known]
        if not scopes or unknown:
            raise CommandError(
                f"Unknown scope {', '.join(unknown) or '(none given)'}: choose from {', '.join(sorted(known))}."
            )
        if not 1 <= options["days"] <= 366:
            raise CommandError("--days must be between 1 and 366.")
        user = User.objects.filter(email__iexact=options["email"].strip(), is_active=True).first()
        if user is None:
            raise CommandError(f"No active user has the email {options['email']}.")
        Application = get_application_model()
        application, _ = Application.objects.get_or_create(
            name=CLI_APPLICATION,
            defaults={
                "client_type": Application.CLIENT_CONFIDENTIAL,
                "authorization_grant_type": Application.GRANT_CLIENT_CREDENTIALS,
                "user": None,
            },
        )
        raw = secrets.token_urlsafe(32)
        token = get_access_token_model()(
            user=user,
            application=application,
            expires=timezone.now() + timedelta(days=options["days"]),
            scope=" ".join(scopes),
        )
        set_token_value(token, raw)  # stored hashed (RFC 9700); only this output ever shows it
        token.save()
        self.stdout.write(f"Token for {user.email} with scopes {' '.join(scopes)}, expires {token.expires:%Y-%m-%d}:")
        self.stdout.write(raw)
