"""Re-encrypt every taxpayer id under the first of FIELD_ENCRYPTION_KEYS (key rotation)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import crypto
from accounts.models import Investor


class Command(BaseCommand):
    help = "Re-encrypt personal identifiers under the newest key; then the old key can be dropped."

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        ids = list(Investor.objects.exclude(tax_id_encrypted="").values_list("pk", flat=True))
        for start in range(0, len(ids), 500):
            with transaction.atomic():
                # The ciphertext is not in the history table; no history row is written for a re-encryption.
                for investor in Investor.objects.select_for_update().filter(pk__in=ids[start : start + 500]):
                    try:
                        rotated = crypto.rotate(investor.tax_id_encrypted)
                    except Exception as exc:
                        raise CommandError(
                            f"Investor {investor.pk}: the value cannot be decrypted with any key."
                        ) from exc
                    Investor.objects.filter(pk=investor.pk).update(tax_id_encrypted=rotated)
                    count += 1
        self.stdout.write(f"Re-encrypted {count} taxpayer ids under the current key.")
