"""Development-only data generators: never imported by the app."""
