"""The administration API for platform teams (docs/protocol.md, "Administration API"): the
platform's own backend provisions users, mints sessions and exports a user's data, over
IAM-authorized routes of the HTTP API."""
