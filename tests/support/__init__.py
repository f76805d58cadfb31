"""What the tests share and that is not a test: servers and clients to test against (the
frame server, the fake legacy service, the legacy WebSocket client, Chromium), the Speech
SDK session helpers, contract observers, processes, paths, shared scenarios and the log
scanner. Test modules import these explicitly; ``conftest.py`` files hold fixtures only.
No module here is named ``test_*``: pytest collects none of it.
"""
