"""The member page (static files served by `cloud.api.members`)."""
