"""reprise terminal app and command line."""
