"""The gateway: OpenAI- and Anthropic-compatible endpoints that forward and record."""
