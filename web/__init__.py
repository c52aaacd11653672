"""The inspection page: a web face over the service layer for people who look at candidates and grade them.

Server-rendered pages (Starlette + Jinja2, autoescaped) with a small script for keyboard grading; every grade goes
to :class:`lensdb.services.grading.GradingService` at once. Start it with ``lensdb web`` (embedded defaults work:
SQLite file and Milvus Lite file). See :mod:`lensdb.web.app` for the routes.
"""
