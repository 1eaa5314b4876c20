"""Every route of the API, grouped by resource."""
