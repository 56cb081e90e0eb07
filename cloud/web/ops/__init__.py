"""The ops dashboard (static files served by `cloud.api.ops_pages`)."""
