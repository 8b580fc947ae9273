//! Request parsing is the service's critical path: every connection goes through it.
//! `cargo xtask perf-test` runs this and compares it with the saved baseline.
//!
//! Measured in the benchmark thread's CPU time rather than wall time: CI machines and laptops
//! are shared with other work, and time spent descheduled is the neighbours' noise, not the
//! parser's cost. (The parser is single-threaded and does no I/O, so nothing is lost.)

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use example_service::http::parse_request;

const GET: &[u8] =
    b"GET /health HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";

const RPC: &[u8] = b"POST /rpc?trace=1 HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: xtask-perf\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: 46\r\nConnection: keep-alive\r\nX-Request-Id: 6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f\r\n\r\n{\"jsonrpc\":\"2.0\",\"method\":\"getversion\",\"id\":1}";

fn parser(c: &mut Criterion<ThreadCpuTime>) {
    let mut group = c.benchmark_group("parse_request");
    for (name, raw) in [("get", GET), ("rpc", RPC)] {
        assert!(parse_request(raw).is_ok(), "{name} must parse");
        group.throughput(Throughput::Bytes(raw.len() as u64));
        group.bench_function(name, |b| b.iter(|| parse_request(black_box(raw))));
    }
    group.finish();
}

/// CPU time of the calling thread, in nanoseconds.
struct ThreadCpuTime;

fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_time()
    }
    fn end(&self, started: Duration) -> Duration {
        thread_cpu_time().saturating_sub(started)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanoseconds
    }
}

/// Shows nanosecond figures the way criterion shows wall time (ns, µs, ms, s).
struct Nanoseconds;

impl ValueFormatter for Nanoseconds {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if typical < 1e3 {
            (1.0, "ns")
        } else if typical < 1e6 {
            (1e-3, "µs")
        } else if typical < 1e9 {
            (1e-6, "ms")
        } else {
            (1e-9, "s")
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }

    fn scale_throughputs(
        &self,
        typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let (per, unit) = match throughput {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => (*n as f64, "B/s"),
            Throughput::Elements(n) => (*n as f64, "elem/s"),
        };
        let _ = typical;
        values.iter_mut().for_each(|v| *v = per * 1e9 / *v);
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn config() -> Criterion<ThreadCpuTime> {
    Criterion::default().with_measurement(ThreadCpuTime)
}

criterion_group! {
    name = benches;
    config = config();
    targets = parser
}
criterion_main!(benches);
