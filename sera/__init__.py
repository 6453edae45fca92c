"""The shell of the SERA backend: settings, database engine and sessions, the `sera` command line, logging."""
