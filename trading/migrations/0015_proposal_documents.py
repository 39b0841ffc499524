"""A proposal's inputs stored once and referenced: `ProposalDocument` (an account's part of the
inputs without the day's prices, or a night's prices), the proposal's two references to them,
and its inline inputs renamed `inline_inputs` in the model (the column keeps its name `inputs`,
so the rows already stored keep theirs and nothing is rewritten)."""

import django.db.models.deletion
from django.db import migrations, models

import trading.models


class Migration(migrations.Migration):
    dependencies = [
        ("trading", "0014_proposal_run_key_unique_constraint"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProposalDocument",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("digest", models.BinaryField(max_length=32, unique=True)),
                ("document", trading.models.SnapshotJSONField()),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RenameField(model_name="rebalanceproposal", old_name="inputs", new_name="inline_inputs"),
                migrations.AlterField(
                    model_name="rebalanceproposal",
                    name="inline_inputs",
                    field=trading.models.SnapshotJSONField(
                        db_column="inputs",
                        default=dict,
                        help_text="The snapshot the engine saw (decimals as strings), inline.",
                    ),
                ),
            ],
            database_operations=[],
        ),
        migrations.AddField(
            model_name="rebalanceproposal",
            name="inputs_ref",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="trading.proposaldocument",
            ),
        ),
        migrations.AddField(
            model_name="rebalanceproposal",
            name="prices_ref",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="trading.proposaldocument",
            ),
        ),
    ]
