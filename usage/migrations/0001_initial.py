# The usage counters move from billing to this app: the tables stay (usage_counters,
# usage_flush_batches); only Django's state and the content types change.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from config.migration_ops import move_content_types


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('billing', '0002_usage_counters'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='UsageFlushBatch',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.CharField(max_length=200, unique=True)),
                        ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                    ],
                    options={
                        'db_table': 'usage_flush_batches',
                    },
                ),
                migrations.CreateModel(
                    name='UsageCounter',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('metric', models.CharField(max_length=32)),
                        ('day', models.DateField(help_text='The day (UTC) the usage happened.')),
                        ('value', models.BigIntegerField(default=0)),
                        ('updated_at', models.DateTimeField(default=django.utils.timezone.now, help_text='When a flush last added to this row.')),
                        ('user', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='usage_counters', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'usage_counters',
                        'ordering': ['-day', 'metric'],
                        'indexes': [models.Index(fields=['day', 'metric'], name='usage_counters_day_metric_idx')],
                        'constraints': [models.UniqueConstraint(fields=('user', 'metric', 'day'), name='usage_counters_user_metric_day_uniq')],
                    },
                ),
            ],
            database_operations=[],
        ),
        move_content_types(models=('usagecounter', 'usageflushbatch'), old_app='billing', new_app='usage'),
    ]
