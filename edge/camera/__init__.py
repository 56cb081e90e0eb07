"""Camera stage: frame capture and QR decoding."""
