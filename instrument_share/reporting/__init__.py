"""Open-sharing statistics, quarterly operation reports and server-rendered dashboards (issue 5)."""
