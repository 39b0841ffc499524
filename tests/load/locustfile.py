"""Locust users for bench/bench_load.py: each user GETs one path over and over.

Configured by the environment, so one file serves every endpoint:
  KRONOS_LOAD_PATH     the path to request (e.g. /api/v1/households/)
  KRONOS_LOAD_TOKEN    a bearer token (API paths)
  KRONOS_LOAD_SESSION  a session cookie value (pages)
  KRONOS_LOAD_RATE     requests a second offered by all users together (0: as fast as they can)
Only loopback hosts are accepted: this is a bench, never a test of someone else's server.
"""

import os
from urllib.parse import urlparse

from locust import constant, constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

PATH = os.environ.get("KRONOS_LOAD_PATH", "/healthz")
TOKEN = os.environ.get("KRONOS_LOAD_TOKEN", "")
SESSION = os.environ.get("KRONOS_LOAD_SESSION", "")
RATE = float(os.environ.get("KRONOS_LOAD_RATE", "0") or 0)


class Client(FastHttpUser):
    # Each user's share of RATE: think time so that all users together offer RATE requests a second.
    def wait_time(self):
        if RATE <= 0:
            return constant(0)(self)
        return constant_throughput(RATE / self.environment.runner.user_count)(self)

    def on_start(self):
        host = urlparse(self.host).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise RuntimeError(f"refusing to load {host}: loopback only")
        self.headers = {"Accept": "application/json"} if PATH.startswith("/api/") else {}
        if TOKEN:
            self.headers["Authorization"] = f"Bearer {TOKEN}"
        if SESSION:
            self.headers["Cookie"] = f"sessionid={SESSION}"

    @task
    def get(self):
        with self.client.get(PATH, headers=self.headers, name=PATH, catch_response=True) as answer:
            if answer.status_code != 200:
                answer.failure(f"HTTP {answer.status_code}")
