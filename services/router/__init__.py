"""Router: decides who owns each report, with the trace of how it decided."""
