"""Conversations and rules, platform-neutral: no chat platform is imported here."""
