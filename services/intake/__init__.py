"""Intake: takes residents' reports over HTTP, publishes each as ReportSubmitted, and answers
202 only once the broker has acknowledged it."""
