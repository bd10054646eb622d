# EmailMessage now belongs to the notifications app (notifications/migrations/0001_initial): it
# leaves accounts' state only; its table and rows stay as they are.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_dataexport_emailmessage'),
        ('notifications', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='EmailMessage')],
            database_operations=[],
        ),
    ]
