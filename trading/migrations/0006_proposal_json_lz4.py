"""Proposal JSON compressed with lz4 instead of pglz on PostgreSQL (a storage setting, no data change).

A needed proposal carries about 4 kB of JSON (inputs and two drift tables), which PostgreSQL
compresses as it stores it; the nightly scan writes one per account, and pglz was about a
quarter of the cost of writing them. lz4 compresses several times faster (and decompresses
faster for the pages that read proposals). Values already stored keep their compression until
rewritten. Skipped on other databases and on a PostgreSQL built without lz4.
"""

from django.db import migrations

TABLE = "trading_rebalanceproposal"
COLUMNS = ("inputs", "drift_before", "drift_after", "notes")


def _set_compression(method: str):
    def apply(apps, schema_editor):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND %s = ANY(enumvals)", [method]
            )
            if cursor.fetchone() is None:
                return  # this server has no lz4: pglz stays
            for column in COLUMNS:
                cursor.execute(f'ALTER TABLE "{TABLE}" ALTER COLUMN "{column}" SET COMPRESSION {method}')  # noqa: S608  # nosec B608 -- fixed identifiers

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("trading", "0005_proposal_indexed_by_account_and_status_only"),
    ]

    operations = [
        migrations.RunPython(_set_compression("lz4"), _set_compression("pglz"), elidable=True),
    ]
