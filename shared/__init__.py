"""Code every service shares: settings, database, migrations, messaging, logging."""
