"""The household app's pages and their local assets, served by ``gridledger serve``.

A thin layer over the API: :func:`mount` adds the pages (``/app``) and their assets
(``/app/static``) to the API app; the figures come from ``/api/v1`` and its live stream.
"""

from gridledger.web.pages import mount

__all__ = ["mount"]
