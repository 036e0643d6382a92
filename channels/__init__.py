"""Channels: thin translators between a platform and Roadie's neutral messages."""
