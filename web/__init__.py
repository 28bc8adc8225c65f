"""The web UI and REST API (v1) of vidsearch.

``web.app.create_app(library)`` builds the Flask application around one opened
:class:`vidsearch.library.Library`; ``web.server.serve(settings, ...)`` opens that library and runs
the application under waitress. Nothing heavy happens at import: models load on the first query.
"""
