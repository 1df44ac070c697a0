"""Replaying recorded sessions: plan (pure), transport (hosts and keys), engine (async)."""
