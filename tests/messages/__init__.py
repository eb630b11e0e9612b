"""The Anthropic Messages front end: translation tables, stream encoding, SDK and Claude
Code end to end."""
