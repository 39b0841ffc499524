"""A proposal's run key unique by a constraint: the same uniqueness, without the pattern-matching
(LIKE) index PostgreSQL got beside it for `unique=True` on a CharField, which no query used and
the nightly scan wrote for every proposal."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("portfolios", "0011_account_figures"),
        ("trading", "0013_order_lot_selection"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="rebalanceproposal",
            name="run_key",
            field=models.CharField(
                blank=True,
                help_text="Set by the scheduled job (account and date) so a rerun makes no second proposal.",
                max_length=80,
                null=True,
            ),
        ),
        migrations.AddConstraint(
            model_name="rebalanceproposal",
            constraint=models.UniqueConstraint(fields=("run_key",), name="trading_proposal_run_key_unique"),
        ),
    ]
