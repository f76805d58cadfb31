"""One legacy client session on the wire: frames, handshake request, profiles, audio."""
