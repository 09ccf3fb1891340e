"""bench/network.py reads wrk's report; a misread figure would be a wrong benchmark."""

from __future__ import annotations

import pytest

from bench.network import parse_wrk

REPORT = """Running 10s test @ http://10.244.1.2:8080/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.21ms    1.02ms  20.00ms   80.00%
    Req/Sec     2.50k   200.00     3.00k    70.00%
  Latency Distribution
     50%  850.00us
     75%    3.50ms
     90%    4.10ms
     99%    1.20s
  50000 requests in 10.00s, 10.00MB read
  Socket errors: connect 1, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:   5000.50
Transfer/sec:      1.00MB
"""


def test_parse_wrk() -> None:
    w = parse_wrk(REPORT)
    assert w.requests_per_s == 5000.5
    assert w.p50 == pytest.approx(0.00085) and w.p99 == pytest.approx(1.2)
    assert w.errors == 10


def test_parse_wrk_refuses_what_it_cannot_read() -> None:
    with pytest.raises(ValueError, match="unexpected wrk output"):
        parse_wrk("unable to connect to 10.0.0.1:80 Connection refused")
