"""Reusable widgets; each declares the messages it sends as nested classes."""
