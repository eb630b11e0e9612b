"""Declarative configuration: ``openai-proxy apply -f gateway.yaml`` and ``export``."""
