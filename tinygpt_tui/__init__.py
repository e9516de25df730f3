"""tinygpt-tui: train and inspect tiny GPT language models in a terminal."""

__version__ = "0.1.0"
