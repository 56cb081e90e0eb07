"""The member page and the wallet module (static files served by `cloud.api.member_page`)."""
