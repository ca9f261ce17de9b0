"""What the ops team sees: the service's Prometheus series (``series``) and its JSON
request log with request ids (``logs``). Framework-free: the HTTP middleware in
``app/api/middleware.py`` and the services call in here."""
