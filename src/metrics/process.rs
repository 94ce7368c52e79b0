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

use crate::shared::SCOPE;

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
    use std::sync::OnceLock;

    use opentelemetry::metrics::Meter;
    use opentelemetry::KeyValue;

    /// Clock ticks per second (`USER_HZ`), the unit of the CPU times and the start time in
    /// `/proc/self/stat`: the `AT_CLKTCK` entry of the auxiliary vector the kernel gave the
    /// process, which is what `sysconf(_SC_CLK_TCK)` returns, read from `/proc/self/auxv`
    /// (calling `sysconf` would need `unsafe`). 100, its value on every architecture Linux
    /// runs Rust on, when that file cannot be read.
    pub(crate) fn clock_ticks() -> f64 {
        static TICKS: OnceLock<f64> = OnceLock::new();
        *TICKS.get_or_init(|| {
            std::fs::read("/proc/self/auxv")
                .ok()
                .and_then(|auxv| parse_clock_ticks(&auxv))
                .unwrap_or(100.0)
        })
    }

    /// The `AT_CLKTCK` value of an auxiliary vector: pairs of native-endian words, a key and
    /// a value, up to the `AT_NULL` key.
    pub(crate) fn parse_clock_ticks(auxv: &[u8]) -> Option<f64> {
        const AT_NULL: usize = 0;
        const AT_CLKTCK: usize = 17;
        const WORD: usize = std::mem::size_of::<usize>();
        let word = |bytes: &[u8]| Some(usize::from_ne_bytes(bytes.try_into().ok()?));
        for entry in auxv.chunks_exact(2 * WORD) {
            let (key, value) = entry.split_at(WORD);
            match word(key)? {
                AT_CLKTCK => return word(value).filter(|&v| v > 0).map(|v| v as f64),
                AT_NULL => return None,
                _ => {}
            }
        }
        None
    }

    /// The fields of `/proc/self/stat` this module reads.
    pub(crate) struct Stat {
        /// CPU seconds in user mode.
        pub(crate) utime: f64,
        /// CPU seconds in kernel mode.
        pub(crate) stime: f64,
        pub(crate) threads: i64,
        /// When the process started, in clock ticks since the system booted.
        pub(crate) start_ticks: f64,
        pub(crate) vsize: i64,
    }

    /// Parses `/proc/<pid>/stat`, whose times are in `ticks` per second: the fields after the
    /// command name (which may hold spaces and parentheses) are counted from its closing
    /// parenthesis.
    pub(crate) fn parse_stat(text: &str, ticks: f64) -> Option<Stat> {
        let rest = &text[text.rfind(')')? + 1..];
        // rest[0] is field 3 (state); field n is rest[n - 3].
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).copied();
        Some(Stat {
            utime: field(14)?.parse::<f64>().ok()? / ticks,
            stime: field(15)?.parse::<f64>().ok()? / ticks,
            threads: field(20)?.parse().ok()?,
            start_ticks: field(22)?.parse().ok()?,
            vsize: field(23)?.parse().ok()?,
        })
    }

    fn stat() -> Option<Stat> {
        parse_stat(
            &std::fs::read_to_string("/proc/self/stat").ok()?,
            clock_ticks(),
        )
    }

    /// `VmRSS` of `/proc/self/status`, in bytes.
    pub(crate) fn parse_rss(status: &str) -> Option<i64> {
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// Seconds since the process started: the system's uptime minus the start tick.
    pub(crate) fn uptime() -> Option<f64> {
        let system = std::fs::read_to_string("/proc/uptime").ok()?;
        uptime_of(&system, &stat()?, clock_ticks())
    }

    /// The age of the process whose `stat` is given, from the text of `/proc/uptime`.
    pub(crate) fn uptime_of(proc_uptime: &str, stat: &Stat, ticks: f64) -> Option<f64> {
        let system: f64 = proc_uptime.split_whitespace().next()?.parse().ok()?;
        Some((system - stat.start_ticks / ticks).max(0.0))
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
    use std::time::{Duration, Instant};

    use crate::metrics::process::linux::{
        clock_ticks, parse_clock_ticks, parse_rss, parse_stat, uptime, uptime_of,
    };

    #[test]
    fn stat_fields_are_read_after_the_command_name() {
        let text = "4242 (my (odd) name) S 1 2 3 0 -1 4194304 125 0 0 0 250 75 0 0 20 0 7 0 \
                    1148316 3133440 365 18446744073709551615 0";
        let s = parse_stat(text, 100.0).unwrap();
        assert!((s.utime - 2.5).abs() < 1e-9 && (s.stime - 0.75).abs() < 1e-9);
        assert_eq!(s.threads, 7);
        assert!((s.start_ticks - 1_148_316.0).abs() < 1e-9);
        assert_eq!(s.vsize, 3_133_440);
        let s = parse_stat(text, 250.0).unwrap();
        assert!((s.utime - 1.0).abs() < 1e-9 && (s.stime - 0.3).abs() < 1e-9);
        assert!(parse_stat("garbage", 100.0).is_none());
        assert!(parse_stat("1 (x) S 1", 100.0).is_none());
    }

    #[test]
    fn rss_is_read_in_bytes() {
        assert_eq!(
            parse_rss("Name:\tx\nVmRSS:\t    2064 kB\n"),
            Some(2064 * 1024)
        );
        assert_eq!(parse_rss("Name:\tx\n"), None);
    }

    fn auxv(entries: &[(usize, usize)]) -> Vec<u8> {
        entries
            .iter()
            .flat_map(|(k, v)| [k.to_ne_bytes(), v.to_ne_bytes()].concat())
            .collect()
    }

    #[test]
    fn clock_ticks_are_the_auxiliary_vector_s_at_clktck() {
        assert_eq!(
            parse_clock_ticks(&auxv(&[(6, 4096), (17, 250), (0, 0)])),
            Some(250.0)
        );
        // Missing, after the end marker, zero, or cut short: none.
        assert_eq!(parse_clock_ticks(&auxv(&[(6, 4096), (0, 0)])), None);
        assert_eq!(parse_clock_ticks(&auxv(&[(0, 0), (17, 250)])), None);
        assert_eq!(parse_clock_ticks(&auxv(&[(17, 0), (0, 0)])), None);
        let cut = auxv(&[(17, 250)]);
        assert_eq!(parse_clock_ticks(&cut[..cut.len() - 1]), None);

        // This process's value is the one the C library reports.
        match std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
        {
            Ok(out) => {
                let reported: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
                assert_eq!(clock_ticks(), reported);
            }
            // No getconf (a minimal image): the kernel's value on every architecture.
            Err(_) => assert_eq!(clock_ticks(), 100.0),
        }
    }

    /// The uptime of a process started during the test lies between the time the test waited
    /// after starting it and the test's own elapsed time, measured on its own clock.
    #[test]
    fn uptime_is_the_process_s_age() {
        let started = Instant::now();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("start `sleep`");
        std::thread::sleep(Duration::from_millis(300));
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id()));
        let system = std::fs::read_to_string("/proc/uptime").unwrap();
        let elapsed = started.elapsed().as_secs_f64();
        let _ = child.kill();
        let _ = child.wait();
        let stat = parse_stat(&stat.unwrap(), clock_ticks()).unwrap();
        let age = uptime_of(&system, &stat, clock_ticks()).unwrap();
        // Both /proc values are cut to hundredths of a second.
        assert!(
            (0.3 - 0.02..=elapsed + 0.02).contains(&age),
            "uptime {age} s of a process started {elapsed} s ago and waited for 0.3 s"
        );

        let own = uptime().unwrap();
        assert!(own > 0.0 && own.is_finite(), "{own}");
    }

    #[test]
    fn this_process_reads() {
        let s = parse_stat(
            &std::fs::read_to_string("/proc/self/stat").unwrap(),
            clock_ticks(),
        )
        .unwrap();
        assert!(s.threads >= 1 && s.vsize > 0);
    }
}
