"""The HTTP API (``/api/v1``): OpenAPI, Sign-In with Ethereum, streams, OpenADR 3 VTN shape.

A thin layer over the service and the library below it.
"""
