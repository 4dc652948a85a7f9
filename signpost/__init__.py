"""Signpost: shared runtime, deployment bundle and the `signpost` command."""
