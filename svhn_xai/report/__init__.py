"""Pictures and tables for people: overlays with boxes and the charts the app and the CLI draw."""
