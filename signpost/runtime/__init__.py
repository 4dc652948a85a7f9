"""Cross-cutting runtime every service uses: settings, logging, metrics, Kafka clients."""
