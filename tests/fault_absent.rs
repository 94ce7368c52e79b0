//! Fault injection: the collector is absent (see `support/fault.rs`). Requests keep
//! succeeding, spans produced after recovery arrive, the lost spans are counted exactly, memory
//! stays bounded by the queue, shutdown keeps its deadline.

mod support;

use support::fault;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_absent() {
    let Some(report) = fault::run(fault::Fault::Absent).await else {
        return;
    };
    fault::check(fault::Fault::Absent, &report);
}
