"""The built-in Prometheus endpoint, read the way Prometheus reads it: /metrics parsed by
prometheus_client's text parser, series names checked against redis_exporter's, values
checked to move with the data; and the status page at / parsed as HTML."""

import socket
import urllib.error
import urllib.request
from html.parser import HTMLParser

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from conftest import start_ferrokv

# Series that dashboards built for oliver006/redis_exporter chart.
EXPORTER_SERIES = [
    "redis_up",
    "redis_instance_info",
    "redis_uptime_in_seconds",
    "redis_start_time_seconds",
    "redis_connected_clients",
    "redis_blocked_clients",
    "redis_max_clients",
    "redis_memory_used_bytes",
    "redis_memory_max_bytes",
    "redis_memory_used_rss_bytes",
    "redis_memory_used_peak_bytes",
    "redis_mem_fragmentation_ratio",
    "redis_commands_processed_total",
    "redis_commands_total",
    "redis_commands_duration_seconds_total",
    "redis_commands_failed_calls_total",
    "redis_commands_rejected_calls_total",
    "redis_commands_latencies_usec_bucket",
    "redis_commands_latencies_usec_count",
    "redis_commands_latencies_usec_sum",
    "redis_latency_percentiles_usec",
    "redis_keyspace_hits_total",
    "redis_keyspace_misses_total",
    "redis_db_keys",
    "redis_db_keys_expiring",
    "redis_db_avg_ttl_seconds",
    "redis_expired_keys_total",
    "redis_evicted_keys_total",
    "redis_rdb_last_save_timestamp_seconds",
    "redis_rdb_changes_since_last_save",
    "redis_rdb_last_bgsave_status",
    "redis_aof_enabled",
    "redis_aof_last_write_status",
    "redis_net_input_bytes_total",
    "redis_net_output_bytes_total",
    "redis_connections_received_total",
    "redis_rejected_connections_total",
    "redis_connected_slaves",
    "redis_cpu_sys_seconds_total",
    "redis_cpu_user_seconds_total",
    "redis_errors_total",
    "redis_slowlog_length",
    "redis_config_maxmemory",
]


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """A ferrokv with the metrics endpoint on; yields (redis client, metrics port)."""
    workdir = tmp_path_factory.mktemp("metrics")
    metrics_port = _free_port()
    proc, port = start_ferrokv(
        workdir, "--save", "", "--appendonly", "no", "--metrics-port", str(metrics_port)
    )
    try:
        yield redis.Redis(port=port, decode_responses=True), metrics_port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def fetch(port, path="/metrics"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


def samples(port):
    """{(name, frozenset(labels)): value} of every sample, parsed by prometheus_client."""
    _, ctype, text = fetch(port)
    assert ctype.startswith("text/plain; version=0.0.4"), ctype
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(all_samples, name, **labels):
    return all_samples.get((name, frozenset(labels.items())))


def test_series_names_match_redis_exporter(endpoint):
    r, port = endpoint
    r.set("warm", "up")
    r.get("warm")
    names = {name for name, _ in samples(port)}
    missing = [n for n in EXPORTER_SERIES if n not in names]
    assert not missing, f"missing series: {missing}"


def test_values_move_with_the_data(endpoint):
    r, port = endpoint
    r.flushall()
    before = samples(port)
    sets_before = value(before, "redis_commands_total", cmd="set") or 0
    processed_before = value(before, "redis_commands_processed_total")
    for i in range(100):
        r.set(f"key:{i}", "x" * 100)
    r.expire("key:0", 1000)
    r.get("key:1")
    r.get("nope")
    with pytest.raises(redis.ResponseError):
        r.lpush("key:2", "wrong type")
    after = samples(port)
    assert value(after, "redis_commands_total", cmd="set") == sets_before + 100
    assert value(after, "redis_commands_processed_total") > processed_before + 100
    assert value(after, "redis_db_keys", db="db0") == r.dbsize() == 100
    assert value(after, "redis_db_keys_expiring", db="db0") == 1
    assert value(after, "redis_db_keys", db="db15") == 0
    assert value(after, "redis_memory_used_bytes") > 0
    assert value(after, "redis_memory_used_rss_bytes") > 0
    assert value(after, "redis_errors_total", err="WRONGTYPE") >= 1
    assert value(after, "redis_commands_failed_calls_total", cmd="lpush") >= 1
    assert value(after, "redis_keyspace_misses_total") >= 1
    assert value(after, "redis_up") == 1
    assert value(after, "redis_commands_latencies_usec_count", cmd="set") == sets_before + 100
    assert value(after, "redis_commands_latencies_usec_bucket", cmd="set", le="+Inf") == sets_before + 100
    info = r.info("memory")
    assert value(after, "redis_memory_max_bytes") == info["maxmemory"]
    # The figures are INFO's: the same names, the same values where they cannot move.
    stats = r.info("stats")
    assert value(after, "redis_keyspace_hits_total") <= stats["keyspace_hits"]


def test_instance_info_labels(endpoint):
    r, port = endpoint
    info = r.info("server")
    families = {f.name: f for f in text_string_to_metric_families(fetch(port)[2])}
    (sample,) = families["redis_instance_info"].samples
    assert sample.value == 1
    assert sample.labels["redis_version"] == info["redis_version"]
    assert sample.labels["tcp_port"] == str(info["tcp_port"])
    assert sample.labels["role"] == "master"
    assert sample.labels["maxmemory_policy"] == "noeviction"


class _Figures(HTMLParser):
    """Collects data-field/data-value pairs and the visible text."""

    def __init__(self):
        super().__init__()
        self.fields = {}
        self.text = []
        self.tags = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        a = dict(attrs)
        if "data-field" in a:
            self.fields[a["data-field"]] = a.get("data-value")

    def handle_data(self, data):
        self.text.append(data)


def test_status_page_renders_the_figures(endpoint):
    r, port = endpoint
    r.flushall()
    r.mset({f"p:{i}": i for i in range(7)})
    status, ctype, html = fetch(port, "/")
    assert status == 200 and ctype.startswith("text/html")
    page = _Figures()
    page.feed(html)
    assert "script" not in page.tags
    assert page.fields["keys"] == "7"
    assert page.fields["db0.keys"] == "7"
    assert int(page.fields["connected_clients"]) >= 1
    assert int(page.fields["used_memory"]) > 0
    assert int(page.fields["cmdstat_mset.calls"]) >= 1
    assert "ferrokv" in "".join(page.text)


def test_other_paths_are_404(endpoint):
    _, port = endpoint
    with pytest.raises(urllib.error.HTTPError) as e:
        fetch(port, "/favicon.ico")
    assert e.value.code == 404
