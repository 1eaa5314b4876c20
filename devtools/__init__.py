"""Running the platform on one machine: `make demo`, `make up`, `make status`, `make down`."""
