"""Streamlit glue: the page shell, cached wrappers around core, shared widgets and links."""
