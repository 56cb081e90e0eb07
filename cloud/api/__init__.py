"""HTTP API routers; `cloud.main.create_app` mounts them."""
