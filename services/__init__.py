"""Signpost's three services: intake, router and notifier. They share only `schemas` and
`signpost` (runtime and bundle), never each other's code."""
