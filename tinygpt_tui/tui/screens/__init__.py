"""Screens: each orchestrates one job (runs, new run, training, explorer, vocabulary, help)."""
