"""DLX Art Studio: a local-first desktop studio for AI image generation."""

__version__ = "0.1.0"
APP_NAME = "DLX Art Studio"
ORG_NAME = "DLX"
