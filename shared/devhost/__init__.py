"""``forewarn serve``: the real Functions app hosted on 127.0.0.1 for development and tests.

It is a stand-in for the Functions host (Core Tools cannot be installed everywhere): HTTP
routes with the function-key check, queue triggers polling Storage (Azurite) with visibility
timeout, dequeue count and ``<queue>-poison`` as ``host.json`` says, and timer triggers. It
reads every function and binding from ``app.get_functions()``; nothing is hand-listed.
"""
