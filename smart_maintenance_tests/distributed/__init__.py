"""Distributed execution: runs on the PostgreSQL instance, steps on Celery workers (issue 9)."""
