from django.db import migrations, models


class Migration(migrations.Migration):
    """The device a worker used for each submission and generation, and its device-seconds."""

    dependencies = [("exercises", "0005_feedback_policy_idempotency")]

    operations = [
        migrations.AddField("submission", "device", models.CharField(blank=True, default="", max_length=16)),
        migrations.AddField("submission", "device_seconds", models.FloatField(blank=True, null=True)),
        migrations.AddField("generation", "device", models.CharField(blank=True, default="", max_length=16)),
        migrations.AddField("generation", "device_seconds", models.FloatField(blank=True, null=True)),
    ]
