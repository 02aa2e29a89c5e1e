"""A module of a function's folder named like the standard library's `typing`: on Lambda the
folder is first on sys.path, so every `import typing` in this function finds this file."""
