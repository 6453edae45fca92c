"""Fake Kobo and ODK Central servers that follow the contracts in shared/contracts, served on 127.0.0.1."""
