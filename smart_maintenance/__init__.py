"""Smart Maintenance: a predictive-maintenance pipeline built on Dagster."""
