# The email outbox moves from accounts to this app: the table stays (email_messages); only
# Django's state and the content type change.

import django.core.serializers.json
import django.db.models.deletion
import django.utils.timezone
import uuid
from django.conf import settings
from django.db import migrations, models

from config.migration_ops import move_content_types


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0003_dataexport_emailmessage'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='EmailMessage',
                    fields=[
                        ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now, editable=False)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('to', models.EmailField(max_length=320)),
                        ('template', models.CharField(max_length=64)),
                        ('subject', models.CharField(max_length=998)),
                        ('context', models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder)),
                        ('text_body', models.TextField()),
                        ('html_body', models.TextField(blank=True)),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('sent', 'Sent'), ('failed', 'Failed')], default='queued', max_length=16)),
                        ('provider_message_id', models.CharField(blank=True, max_length=255)),
                        ('error', models.TextField(blank=True, help_text='The error of the latest failed attempt.')),
                        ('attempts', models.PositiveIntegerField(default=0)),
                        ('sent_at', models.DateTimeField(blank=True, null=True)),
                        ('user', models.ForeignKey(blank=True, help_text='The user the email concerns; empty for staff reports.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='email_messages', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'email_messages',
                        'ordering': ['-created_at'],
                        'indexes': [models.Index(fields=['status', '-created_at'], name='email_messages_status_idx'), models.Index(fields=['user', 'template'], name='email_messages_user_tpl_idx')],
                    },
                ),
            ],
            database_operations=[],
        ),
        move_content_types(models=('emailmessage',), old_app='accounts', new_app='notifications'),
    ]
