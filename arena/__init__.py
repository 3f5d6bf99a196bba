"""Tanuki Arena: a blind pairwise evaluation arena for chat LLMs."""
