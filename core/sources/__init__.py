"""Where sessions come from: exported files and the Helicone API."""
