# UsageCounter and UsageFlushBatch now belong to the usage app (usage/migrations/0001_initial):
# they leave billing's state only; their tables and rows stay as they are.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0002_usage_counters'),
        ('usage', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='UsageCounter'),
                migrations.DeleteModel(name='UsageFlushBatch'),
            ],
            database_operations=[],
        ),
    ]
