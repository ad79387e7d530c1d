"""The household app's pages and their local assets, served by ``gridledger serve``.

A thin layer over the API.
"""
