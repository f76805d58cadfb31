"""Two sessions side by side: sides read from recordings, utterances paired, texts diffed."""
