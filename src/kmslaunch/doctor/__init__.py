"""Diagnosis and fixes of launches, and the renderers (text, JSON, Markdown, SARIF) of launch results."""
