"""The `backtester` command line: a client of the REST API (never of the services' code or the
database), installed by `make install` as `.venv/bin/backtester`; its reference is docs/cli.md."""
