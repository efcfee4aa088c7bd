"""What to build: ``[tool.bundler]`` and the command line, the project's own metadata, ``bundler init``."""
