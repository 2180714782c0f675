"""The micro-batch schedule: for users who prefer a fixed cadence to file-arrival triggers.

It shares the ingest job with the landing sensor (a file's content is ingested once whoever launches
it), and skips its tick when nothing is pending. Stopped by default because the sensor is running;
start it in the UI (and stop the sensor) to switch to a cadence.
"""


import dagster as dg

from smart_maintenance.defs.ingestion.jobs import ingest_landing_job, pending_files
from smart_maintenance.defs.resources import DataRootResource, IngestSettingsResource


@dg.schedule(cron_schedule="*/15 * * * *", job=ingest_landing_job, execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.STOPPED,
             description="Every 15 minutes: ingest whatever landing/ holds that has not changed for quiet_seconds.")
def micro_batch_schedule(context: dg.ScheduleEvaluationContext, data_root: DataRootResource,
                         ingest_settings: IngestSettingsResource):
    if not pending_files(data_root.get(), ingest_settings.quiet_seconds):
        return dg.SkipReason("landing/ has no pending files")
    return dg.RunRequest(
        run_key=context.scheduled_execution_time.isoformat(),
        run_config={"ops": {"ingest_landing_files": {"config": {"min_file_age_seconds": ingest_settings.quiet_seconds}}}},
    )


SCHEDULES = [micro_batch_schedule]
