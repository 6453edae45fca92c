"""The HTTP API: app factory, routers, dependencies, error mapping. No domain logic lives here."""
