"""Access control: who is calling (API keys, OpenID Connect bearer tokens, HTTP Basic) and
what they may use (doors, collections, layers, running processes).

Off by default (``GATEWAY_ACCESS=off``): every request is the anonymous caller with every
permission. On, the ``Access`` middleware (inside the HTTP edge) authenticates each request,
answers 401 or 403 in the door's dialect, and makes the caller current for the doors
(``current.caller``), which list in their capabilities only what the caller may use.
"""
