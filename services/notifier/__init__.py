"""Notifier: finds the owner's clerk and tells them, once, on their organisation's channel."""
