"""Where Kronos lives and how it reads its environment (a `.env` beside the project is read
first, without overriding what the environment already says)."""

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# What the embedded setup writes (the SQLite database, the file-system broker's queues, static files):
# var/ beside the project, or KRONOS_VAR_DIR.
VAR_DIR = Path(os.environ.get("KRONOS_VAR_DIR") or BASE_DIR / "var")

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
