"""Live aggregates per site and region, and fault detection over what the store holds.

Reads the store (and the market's results); raises faults. Used by the service, the API and the
simulator; it never imports them.
"""
