"""Under pytest-xdist each test worker gets its own Redis database, as it gets its own PostgreSQL
test database (kronos/settings/__init__.py::_per_test_worker); nothing changes outside xdist."""

import pytest

from kronos.settings import _per_test_worker


@pytest.mark.parametrize(
    ("worker", "url", "expected"),
    [
        ("", "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("gw0", "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/10"),
        ("gw1", "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/11"),
        ("gw1", "redis://127.0.0.1:6379", "redis://127.0.0.1:6379/11"),
        ("gw7", "redis://:secret@redis:6379/3", "redis://:secret@redis:6379/1"),
        ("gw1", "redis://127.0.0.1:6379/11", "redis://127.0.0.1:6379/11"),  # a worker's child: unchanged
        ("gw0", "filesystem://", "filesystem://"),
        ("master", "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_each_test_worker_has_its_own_redis_database(monkeypatch, worker, url, expected):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    assert _per_test_worker(url) == expected
