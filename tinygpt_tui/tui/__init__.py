"""The Textual face of tinygpt-tui: ``tinygpt-tui`` starts :class:`tinygpt_tui.tui.app.TinyGPTApp`."""
