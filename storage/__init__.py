"""Records (pydantic) and repositories. Imports nothing from handlers/ or bot/."""
