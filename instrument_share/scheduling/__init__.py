"""Periodic jobs: one APScheduler process, each period claimed in the database."""
