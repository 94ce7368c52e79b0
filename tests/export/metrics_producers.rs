//! The process, Tokio runtime, connection-pool and cache series reach the Prometheus
//! endpoint under the names of the metric contract, pass `promtool check metrics`, are read at
//! each collection, and the runtime ones can be turned off.

use crate::support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use octollm_telemetry::metrics::{self, CacheMetrics, ConnectionPoolMetrics, PoolStats};
use octollm_telemetry::TelemetryConfig;

fn build(vars: &[(&str, &str)]) -> octollm_telemetry::Telemetry {
    let mut all = vec![
        ("OTEL_SERVICE_NAME", "producers"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "prometheus"),
    ];
    all.extend_from_slice(vars);
    TelemetryConfig::from_vars(all)
        .unwrap()
        .log_writer(std::io::sink)
        .build()
        .unwrap()
}

/// The value of the first sample of `series` whose line contains every one of `labels`.
fn sample(text: &str, series: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(series) && l[series.len()..].starts_with(['{', ' ']))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_pool_and_cache_series_have_the_contract_names() {
    let telemetry = build(&[]);
    let provider = telemetry.meter_provider().unwrap();
    let used = Arc::new(AtomicU64::new(3));
    let seen = Arc::clone(&used);
    let pool = ConnectionPoolMetrics::with_meter_provider(provider, "orders-db", move || {
        let used = seen.load(Ordering::Relaxed);
        PoolStats {
            used,
            idle: 10 - used,
            max: 10,
            pending: 2,
        }
    });
    pool.record_wait(Duration::from_millis(30));
    pool.record_timeout();
    let cache = CacheMetrics::with_meter_provider(provider, "reflex");
    cache.hit();
    cache.hit();
    cache.record(false);

    let text = telemetry.encode_prometheus().unwrap();
    let pool_label = r#"db_client_connection_pool_name="orders-db""#;
    assert_eq!(
        sample(
            &text,
            metrics::DB_CLIENT_CONNECTION_COUNT,
            &[pool_label, r#"db_client_connection_state="used""#]
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            metrics::DB_CLIENT_CONNECTION_COUNT,
            &[pool_label, r#"db_client_connection_state="idle""#]
        ),
        Some(7.0)
    );
    assert_eq!(
        sample(&text, metrics::DB_CLIENT_CONNECTION_MAX, &[pool_label]),
        Some(10.0)
    );
    assert_eq!(
        sample(
            &text,
            metrics::DB_CLIENT_CONNECTION_PENDING_REQUESTS,
            &[pool_label]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            metrics::DB_CLIENT_CONNECTION_WAIT_TIME_COUNT,
            &[pool_label]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            metrics::DB_CLIENT_CONNECTION_WAIT_TIME_BUCKET,
            &[pool_label, r#"le="0.05""#]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            metrics::DB_CLIENT_CONNECTION_TIMEOUTS_TOTAL,
            &[pool_label]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            metrics::CACHE_LOOKUPS_TOTAL,
            &[r#"cache_name="reflex""#, r#"cache_result="hit""#]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            metrics::CACHE_LOOKUPS_TOTAL,
            &[r#"cache_name="reflex""#, r#"cache_result="miss""#]
        ),
        Some(1.0)
    );

    // The pool is read at each collection.
    used.store(9, Ordering::Relaxed);
    let text = telemetry.encode_prometheus().unwrap();
    assert_eq!(
        sample(
            &text,
            metrics::DB_CLIENT_CONNECTION_COUNT,
            &[pool_label, r#"db_client_connection_state="used""#]
        ),
        Some(9.0)
    );

    // Process and runtime series, with plausible values.
    if cfg!(target_os = "linux") {
        for name in [
            metrics::PROCESS_MEMORY_USAGE,
            metrics::PROCESS_MEMORY_VIRTUAL,
            metrics::PROCESS_THREAD_COUNT,
            metrics::PROCESS_OPEN_FILE_DESCRIPTORS,
        ] {
            assert!(
                sample(&text, name, &[]).is_some_and(|v| v >= 1.0),
                "{name}:\n{text}"
            );
        }
        for mode in ["user", "system"] {
            let label = format!(r#"cpu_mode="{mode}""#);
            assert!(
                sample(&text, metrics::PROCESS_CPU_TIME_TOTAL, &[&label]).is_some(),
                "{text}"
            );
        }
    }
    assert!(
        sample(&text, metrics::PROCESS_UPTIME, &[]).is_some_and(|v| v > 0.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, metrics::TOKIO_WORKERS, &[]),
        Some(2.0),
        "the test's runtime has 2 workers"
    );
    assert!(sample(&text, metrics::TOKIO_TASKS_ALIVE, &[]).is_some());
    assert!(sample(&text, metrics::TOKIO_GLOBAL_QUEUE_DEPTH, &[]).is_some());

    // Every series name is one the crate declares.
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = line.split(['{', ' ']).next().unwrap();
        if name.starts_with("process_")
            || name.starts_with("tokio_")
            || name.starts_with("db_client_")
            || name.starts_with("octollm_cache_")
        {
            assert!(
                metrics::EXPOSED_SERIES.contains(&name),
                "undeclared series {name}"
            );
        }
    }

    // promtool accepts the exposition (but for the `_count` lint of semconv gauge names).
    if let Some(promtool) = support::require_tool("promtool") {
        support::exposition::promtool_check(&promtool, &text).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_metrics_can_be_turned_off() {
    let from_code = TelemetryConfig::from_vars([
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "prometheus"),
        ("OCTOLLM_RUNTIME_METRICS", "true"),
    ])
    .unwrap()
    .runtime_metrics(false)
    .log_writer(std::io::sink)
    .build()
    .unwrap();
    for telemetry in [build(&[("OCTOLLM_RUNTIME_METRICS", "false")]), from_code] {
        let text = telemetry.encode_prometheus().unwrap();
        assert!(
            !text.contains("process_") && !text.contains("tokio_"),
            "{text}"
        );
    }
}

/// What the test reads of its own process, on its own: `/proc/self/stat` (utime, stime and
/// start time in clock ticks), `/proc/uptime`, the entries of `/proc/self/task` and
/// `/proc/self/fd`, and `VmRSS` of `/proc/self/status`.
#[cfg(target_os = "linux")]
#[derive(Debug)]
struct Reading {
    user: f64,
    system: f64,
    uptime: f64,
    threads: f64,
    fds: f64,
    rss: f64,
}

#[cfg(target_os = "linux")]
impl Reading {
    /// `ticks`: clock ticks per second, from `getconf CLK_TCK`.
    fn now(ticks: f64) -> Reading {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let after_name: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        // after_name[0] is field 3 of proc(5).
        let field = |n: usize| after_name[n - 3].parse::<f64>().unwrap();
        let boot = std::fs::read_to_string("/proc/uptime").unwrap();
        let boot: f64 = boot.split(' ').next().unwrap().parse().unwrap();
        let count = |dir: &str| std::fs::read_dir(dir).unwrap().count() as f64;
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let rss_kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().strip_suffix(" kB"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        Reading {
            user: field(14) / ticks,
            system: field(15) / ticks,
            uptime: boot - field(22) / ticks,
            threads: count("/proc/self/task"),
            fds: count("/proc/self/fd"),
            rss: rss_kib * 1024.0,
        }
    }
}

/// CPU nanoseconds of the calling thread (`/proc/thread-self/schedstat`, counted by the
/// scheduler in nanoseconds, independent of clock ticks).
#[cfg(target_os = "linux")]
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

/// Asserts `low - slack <= value <= high + slack`.
#[cfg(target_os = "linux")]
fn within(name: &str, value: Option<f64>, low: f64, high: f64, slack: f64) {
    let value = value.unwrap_or_else(|| panic!("{name}: no sample"));
    assert!(
        (low - slack..=high + slack).contains(&value),
        "{name} = {value}, read independently between {low} and {high} (± {slack})"
    );
}

/// The process series are the process's own figures: each lies between two readings the test
/// takes itself just before and after the scrape. CPU time is also checked against the
/// scheduler's nanosecond count of a busy loop, so a wrong clock-tick rate fails.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_series_agree_with_independent_readings() {
    let Some(getconf) = support::require_tool("getconf") else {
        return;
    };
    let out = std::process::Command::new(getconf)
        .arg("CLK_TCK")
        .output()
        .unwrap();
    let ticks: f64 = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let telemetry = build(&[]);

    // Something to see: 64 MiB touched, 16 more open files, 8 more threads, and 0.3 s of CPU.
    let ballast = vec![1_u8; 64 << 20];
    let files: Vec<_> = (0..16)
        .map(|_| std::fs::File::open("/dev/null").unwrap())
        .collect();
    let (stop, parked) = std::sync::mpsc::channel::<()>();
    let parked = Arc::new(std::sync::Mutex::new(parked));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let parked = Arc::clone(&parked);
            std::thread::spawn(move || {
                let _ = parked.lock().unwrap().recv();
            })
        })
        .collect();
    let cpu_start = thread_cpu_ns();
    let wall = Instant::now();
    let mut burned = 0_u64;
    let mut x = 1_u64;
    while burned < 300_000_000 && wall.elapsed() < Duration::from_secs(20) {
        for _ in 0..100_000 {
            x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
        }
        burned = match (cpu_start, thread_cpu_ns()) {
            (Some(a), Some(b)) => b - a,
            _ => u64::try_from(wall.elapsed().as_nanos()).unwrap(),
        };
    }
    std::hint::black_box(x);

    let before = Reading::now(ticks);
    let text = telemetry.encode_prometheus().unwrap();
    let after = Reading::now(ticks);
    let cpu = |mode: &str| {
        let label = format!(r#"cpu_mode="{mode}""#);
        sample(&text, metrics::PROCESS_CPU_TIME_TOTAL, &[&label])
    };
    let tick = 1.0 / ticks;
    within("user CPU", cpu("user"), before.user, after.user, 1e-9);
    within(
        "system CPU",
        cpu("system"),
        before.system,
        after.system,
        1e-9,
    );
    let total = cpu("user").unwrap() + cpu("system").unwrap();
    assert!(
        total >= burned as f64 / 1e9 - 2.0 * tick,
        "process CPU {total} s, less than the {burned} ns this thread was seen to use"
    );
    // /proc/uptime and the start time are cut to hundredths of a second.
    let uptime = sample(&text, metrics::PROCESS_UPTIME, &[]);
    within("uptime", uptime, before.uptime, after.uptime, 0.02);
    assert!(uptime.unwrap() > 0.0);
    // Other tests of this binary start and end threads and files meanwhile.
    let threads_seen = sample(&text, metrics::PROCESS_THREAD_COUNT, &[]);
    within(
        "threads",
        threads_seen,
        before.threads.min(after.threads),
        before.threads.max(after.threads),
        4.0,
    );
    assert!(threads_seen.unwrap() >= 9.0);
    let fds = sample(&text, metrics::PROCESS_OPEN_FILE_DESCRIPTORS, &[]);
    within(
        "fds",
        fds,
        before.fds.min(after.fds),
        before.fds.max(after.fds),
        4.0,
    );
    assert!(fds.unwrap() >= 16.0 + 3.0);
    let rss = sample(&text, metrics::PROCESS_MEMORY_USAGE, &[]);
    within(
        "RSS",
        rss,
        before.rss.min(after.rss),
        before.rss.max(after.rss),
        8.0 * 1024.0 * 1024.0,
    );
    assert!(rss.unwrap() >= 64.0 * 1024.0 * 1024.0);
    assert!(sample(&text, metrics::PROCESS_MEMORY_VIRTUAL, &[]).unwrap() >= rss.unwrap());

    drop(stop);
    for t in threads {
        t.join().unwrap();
    }
    drop((files, std::hint::black_box(ballast)));
}

/// The `gen_ai_*` and `rpc_*` series the metric contract lists for this crate, as the GenAI
/// instrumentation and the gRPC layers expose them on a pipeline's Prometheus endpoint: every
/// name of the contract is there (a model call, a streamed one, a served one; a gRPC call through
/// each layer), and the text passes `promtool check metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genai_and_grpc_series_have_the_contract_names() {
    use octollm_telemetry::genai::{Operation, Usage};
    let telemetry = build(&[]);
    let genai = telemetry.genai();
    let mut call = genai
        .call(Operation::Chat, "openai")
        .model("gpt-4o-mini")
        .stream(true)
        .start();
    call.chunk();
    call.chunk();
    call.usage(Usage::new(12, 9));
    call.end();
    let mut served = genai
        .serve(Operation::Chat, "octollm")
        .model("llama")
        .start();
    served.chunk();
    served.chunk();
    served.end();
    #[cfg(feature = "tonic")]
    grpc_calls(&telemetry).await;

    let text = telemetry.encode_prometheus().unwrap();
    let exposed: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let contract =
        std::fs::read_to_string(support::repo_root().join("monitoring/metric-contract.yaml"))
            .unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&contract).unwrap();
    let mut checked = 0;
    for entry in doc["metrics"].as_sequence().unwrap() {
        let name = entry["name"].as_str().unwrap();
        let ours = entry["producer"].as_str() == Some("octollm-telemetry");
        let grpc = name.starts_with("rpc_");
        if !ours || !(name.starts_with("gen_ai_") || grpc) || (grpc && !cfg!(feature = "tonic")) {
            continue;
        }
        assert!(
            exposed.contains(name),
            "contract series {name} not exposed; exposed: {exposed:?}"
        );
        checked += 1;
    }
    assert!(checked >= 21, "{checked} series checked");
    if let Some(promtool) = support::require_tool("promtool") {
        support::exposition::promtool_check(&promtool, &text).unwrap();
    }
}

/// One call through each gRPC layer, answered trailers-only with OK.
#[cfg(feature = "tonic")]
async fn grpc_calls(telemetry: &octollm_telemetry::Telemetry) {
    use tower::{Layer as _, Service as _, ServiceExt as _};
    let answer = || async {
        let mut response = http::Response::new(http_body_util::Empty::<bytes::Bytes>::new());
        response
            .headers_mut()
            .insert("grpc-status", http::HeaderValue::from_static("0"));
        Ok::<_, std::convert::Infallible>(response)
    };
    let providers = (
        telemetry.tracer_provider(),
        telemetry.meter_provider().unwrap(),
    );
    let mut server = octollm_telemetry::grpc::layer()
        .providers(providers.0, providers.1)
        .layer(tower::service_fn(move |_: http::Request<()>| answer()));
    let mut client = octollm_telemetry::grpc::client_layer()
        .providers(providers.0, providers.1)
        .server("plans.internal", 50051)
        .layer(tower::service_fn(move |_: http::Request<()>| answer()));
    let request = || {
        http::Request::post("/octollm.plans.v1.Plans/GetPlan")
            .body(())
            .unwrap()
    };
    server.ready().await.unwrap().call(request()).await.unwrap();
    client.ready().await.unwrap().call(request()).await.unwrap();
}
