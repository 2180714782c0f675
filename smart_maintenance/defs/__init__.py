"""The Dagster shell: assets, checks, jobs, sensors and schedules that wire the domain core together."""
