"""Servers reprise runs on loopback (the recorder and its OTLP endpoint), with one way to
start them, announce their address and stop them: `core.servers.base`."""
