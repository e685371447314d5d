"""Real services the tests start themselves (PostgreSQL, mlflow server, Chromium)."""
