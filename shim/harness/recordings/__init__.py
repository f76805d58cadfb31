"""Session recordings: the JSON Lines format, the recorder, messages read back, replay plans."""
