"""The HTTP edge: what every door's answers have in common, applied once, outermost.

- ``middleware.Edge``: one ASGI middleware in front of every door: the CORS policy
  (``cors``), request body caps (``bodies``), no ``Server``/``X-Powered-By`` headers,
  ``Retry-After`` on 503, an admission ticket per request (``gateway.core.admission``);
  errors it raises itself are answered in the door's dialect (``rejections``).
- ``caching``: tile answers' ``Cache-Control``, ``ETag``, ``Last-Modified`` and ``304``.
- ``protocol``: uvicorn's HTTP protocol writing conventional header capitalisation
  (``Content-Type``, ``ETag``), which some clients look for case-sensitively (QGIS 3.22);
  ``server.uvicorn_options`` is how ``cdse-gateway serve`` runs uvicorn.
"""
