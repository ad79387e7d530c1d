"""The home controller: battery, EV and flexible loads; trading strategies; demand response (VEN).

Used by the simulator (vectorised over households) and the live service (per household). It knows
the market and devices below it, never the simulator, the service or the API above it.
"""
