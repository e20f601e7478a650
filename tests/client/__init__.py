"""Tests of the app-side two-tier cache client (clients/python)."""
