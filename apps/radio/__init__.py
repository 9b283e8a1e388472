"""Plain numerical radio code: DSP, band simulation, propagation, WLS/CRB/GDOP.

No Django and no other Heimdall app is imported here (an import-linter
contract checks it), so any app, benchmark or notebook may use it.
"""
