"""Workers' feedback from the public finder: problem reports on a station and suggestions of
new stations. Stored as plain text, listed and resolved by ops (`cloud.api.reports`)."""
