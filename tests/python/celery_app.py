"""A Celery app for test_celery.py: broker and result backend are the ferrokv server named
by $FERROKV_CELERY_URL (the worker process imports this module)."""

import os

from celery import Celery

URL = os.environ.get("FERROKV_CELERY_URL", "redis://127.0.0.1:6379/3")

app = Celery("ferrokv_test", broker=URL, backend=URL)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task
def add(x, y):
    return x + y


@app.task
def tsum(numbers):
    return sum(numbers)
