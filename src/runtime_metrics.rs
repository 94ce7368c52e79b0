//! The process's and the Tokio runtime's own health, as observable instruments read when the
//! exporter collects (a Prometheus scrape or an OTLP push), never on a timer of their own.
//!
//! Process metrics follow the OpenTelemetry semantic conventions (`process.*`); on Linux they
//! are read from `/proc/self` (CPU time, memory, threads, open file descriptors, uptime),
//! elsewhere only `process.uptime` (since `init`). Tokio metrics come from Tokio's stable
//! metrics API for the runtime `init` ran on.

use std::time::Instant;

use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;

use crate::installed::SCOPE;

/// `/proc` reports CPU times in `USER_HZ` ticks, 100 per second on Linux.
#[cfg(target_os = "linux")]
const USER_HZ: f64 = 100.0;

/// Registers the process and (when `runtime` is given) the Tokio runtime instruments.
pub(crate) fn register(provider: &SdkMeterProvider, runtime: Option<tokio::runtime::Handle>) {
    let meter = provider.meter(SCOPE);
    process(&meter);
    if let Some(runtime) = runtime {
        tokio_runtime(&meter, &runtime);
    }
}

fn process(meter: &Meter) {
    let started = Instant::now();
    meter
        .f64_observable_gauge("process.uptime")
        .with_unit("s")
        .with_description("The time the process has been running")
        .with_callback(move |o| {
            #[cfg(target_os = "linux")]
            if let Some(uptime) = linux::uptime() {
                o.observe(uptime, &[]);
                return;
            }
            o.observe(started.elapsed().as_secs_f64(), &[]);
        })
        .build();
    #[cfg(target_os = "linux")]
    linux::register(meter);
}

#[cfg(target_os = "linux")]
mod linux {
    use opentelemetry::metrics::Meter;
    use opentelemetry::KeyValue;

    use crate::runtime_metrics::USER_HZ;

    /// The fields of `/proc/self/stat` this module reads.
    pub(crate) struct Stat {
        pub(crate) utime: f64,
        pub(crate) stime: f64,
        pub(crate) threads: i64,
        pub(crate) start_ticks: f64,
        pub(crate) vsize: i64,
    }

    /// Parses `/proc/self/stat`: the fields after the command name (which may hold spaces and
    /// parentheses) are counted from its closing parenthesis.
    pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
        let rest = &text[text.rfind(')')? + 1..];
        // rest[0] is field 3 (state); field n is rest[n - 3].
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).copied();
        Some(Stat {
            utime: field(14)?.parse::<f64>().ok()? / USER_HZ,
            stime: field(15)?.parse::<f64>().ok()? / USER_HZ,
            threads: field(20)?.parse().ok()?,
            start_ticks: field(22)?.parse().ok()?,
            vsize: field(23)?.parse().ok()?,
        })
    }

    fn stat() -> Option<Stat> {
        parse_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
    }

    /// `VmRSS` of `/proc/self/status`, in bytes.
    pub(crate) fn parse_rss(status: &str) -> Option<i64> {
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// Seconds since the process started: the system's uptime minus the start tick.
    pub(crate) fn uptime() -> Option<f64> {
        let system: f64 = std::fs::read_to_string("/proc/uptime")
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some((system - stat()?.start_ticks / USER_HZ).max(0.0))
    }

    pub(crate) fn register(meter: &Meter) {
        let user = [KeyValue::new("cpu.mode", "user")];
        let system = [KeyValue::new("cpu.mode", "system")];
        meter
            .f64_observable_counter("process.cpu.time")
            .with_unit("s")
            .with_description("CPU seconds used by the process, by mode")
            .with_callback(move |o| {
                if let Some(s) = stat() {
                    o.observe(s.utime, &user);
                    o.observe(s.stime, &system);
                }
            })
            .build();
        meter
            .i64_observable_up_down_counter("process.memory.usage")
            .with_unit("By")
            .with_description("Resident memory of the process")
            .with_callback(|o| {
                let status = std::fs::read_to_string("/proc/self/status").ok();
                if let Some(rss) = status.as_deref().and_then(parse_rss) {
                    o.observe(rss, &[]);
                }
            })
            .build();
        meter
            .i64_observable_up_down_counter("process.memory.virtual")
            .with_unit("By")
            .with_description("Virtual memory of the process")
            .with_callback(|o| {
                if let Some(s) = stat() {
                    o.observe(s.vsize, &[]);
                }
            })
            .build();
        meter
            .i64_observable_up_down_counter("process.thread.count")
            .with_unit("{thread}")
            .with_description("Threads of the process")
            .with_callback(|o| {
                if let Some(s) = stat() {
                    o.observe(s.threads, &[]);
                }
            })
            .build();
        meter
            .i64_observable_up_down_counter("process.open_file_descriptor.count")
            .with_unit("{file_descriptor}")
            .with_description("File descriptors the process holds open")
            .with_callback(|o| {
                if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
                    o.observe(i64::try_from(dir.count()).unwrap_or(i64::MAX), &[]);
                }
            })
            .build();
    }
}

fn tokio_runtime(meter: &Meter, runtime: &tokio::runtime::Handle) {
    let gauge = |name: &'static str,
                 unit: &'static str,
                 description: &'static str,
                 read: fn(&tokio::runtime::RuntimeMetrics) -> usize| {
        let metrics = runtime.metrics();
        meter
            .i64_observable_up_down_counter(name)
            .with_unit(unit)
            .with_description(description)
            .with_callback(move |o| {
                o.observe(i64::try_from(read(&metrics)).unwrap_or(i64::MAX), &[]);
            })
            .build();
    };
    gauge(
        "tokio.workers",
        "{thread}",
        "Worker threads of the Tokio runtime",
        tokio::runtime::RuntimeMetrics::num_workers,
    );
    gauge(
        "tokio.tasks.alive",
        "{task}",
        "Tasks alive in the Tokio runtime",
        tokio::runtime::RuntimeMetrics::num_alive_tasks,
    );
    gauge(
        "tokio.global_queue.depth",
        "{task}",
        "Tasks waiting in the Tokio runtime's global queue",
        tokio::runtime::RuntimeMetrics::global_queue_depth,
    );
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use crate::runtime_metrics::linux::{parse_rss, parse_stat, uptime};

    #[test]
    fn stat_fields_are_read_after_the_command_name() {
        let text = "4242 (my (odd) name) S 1 2 3 0 -1 4194304 125 0 0 0 250 75 0 0 20 0 7 0 \
                    1148316 3133440 365 18446744073709551615 0";
        let s = parse_stat(text).unwrap();
        assert!((s.utime - 2.5).abs() < 1e-9 && (s.stime - 0.75).abs() < 1e-9);
        assert_eq!(s.threads, 7);
        assert!((s.start_ticks - 1_148_316.0).abs() < 1e-9);
        assert_eq!(s.vsize, 3_133_440);
        assert!(parse_stat("garbage").is_none());
        assert!(parse_stat("1 (x) S 1").is_none());
    }

    #[test]
    fn rss_is_read_in_bytes() {
        assert_eq!(
            parse_rss("Name:\tx\nVmRSS:\t    2064 kB\n"),
            Some(2064 * 1024)
        );
        assert_eq!(parse_rss("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_reads() {
        let s = parse_stat(&std::fs::read_to_string("/proc/self/stat").unwrap()).unwrap();
        assert!(s.threads >= 1 && s.vsize > 0);
        assert!(uptime().unwrap() >= 0.0);
    }
}
