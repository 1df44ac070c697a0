"""reprise engine: models, sources, store, replay and diff. Never imports textual."""
