"""Platform clients (Kobo, ODK Central), form deployment, incremental pull, reconciliation, webhook intake."""
