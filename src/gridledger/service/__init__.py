"""The live platform (``gridledger serve``): per-region slot loop, ingest, clearing, settlement.

Drives the same operator pipeline as the simulator, on the wall clock, with a simulated
neighbourhood by default.
"""
