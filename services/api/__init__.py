"""The REST API: validates requests, records jobs with their messages, reads results."""
