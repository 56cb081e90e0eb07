"""The workers' station finder page at `/` (served by `cloud.web.finder.page`)."""
