"""Where Kronos lives and how it reads its environment (a `.env` beside the project is read
first, without overriding what the environment already says)."""

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# What the embedded setup writes (the SQLite database, the file-system broker's queues, static files):
# var/ beside the project, or KRONOS_VAR_DIR (the environment or .env).
VAR_DIR = Path(os.environ.get("KRONOS_VAR_DIR") or BASE_DIR / "var")

DEBUG = env.bool("DEBUG", default=False)
