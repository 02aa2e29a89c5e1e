"""Attachments (docs/protocol.md, "Attachments"): files uploaded straight to S3 through presigned
POSTs, scanned before anyone can send or fetch them, fetched through short-lived presigned GETs."""
