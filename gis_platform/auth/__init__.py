"""API tokens: bearer tokens with a role, stored only as hashes."""
