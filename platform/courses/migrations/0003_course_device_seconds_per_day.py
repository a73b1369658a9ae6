from django.db import migrations, models


class Migration(migrations.Migration):
    """A course's per-student budget of worker device-seconds per 24 hours (issue #13)."""

    dependencies = [("courses", "0002_enrollment_pseudonym")]

    operations = [
        migrations.AddField(
            model_name="course",
            name="device_seconds_per_day",
            field=models.PositiveIntegerField(
                blank=True, null=True, verbose_name="device-seconds per student per day",
                help_text="Worker time (GPU or CPU) each student may use in 24 hours for model gradings and "
                          "generations, on top of the exercises' own counts. Empty: the site's default "
                          "(STRIDE_DEVICE_SECONDS_PER_DAY); 0: no limit."),
        ),
    ]
