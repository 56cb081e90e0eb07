"""Access stage: scanned text → decision, against the trust and revocation lists held."""
