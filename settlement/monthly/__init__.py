"""The settlement year month by month (issue 10): DIP pre-settlement; bulletin (bulletin*.py)."""
