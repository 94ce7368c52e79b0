//! The export runtime: one thread running a single-threaded Tokio runtime that drives every
//! exporter of the process.
//!
//! Exporters are built on it (tonic spawns its connection task where it is built) and their
//! I/O runs on it, so export works the same whatever runtime, if any, the service uses, and a
//! shutdown never waits on the caller's runtime (a current-thread runtime blocked in
//! `shutdown()` cannot stall it). The thread runs with no `tracing` subscriber so that the
//! exporters' internals cannot produce telemetry about telemetry.

use std::future::Future;
use std::sync::mpsc as std_mpsc;

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tracing::Dispatch;

use crate::error::BoxError;

/// Handle to the export thread; the thread stops when this is dropped.
#[derive(Debug)]
pub(crate) struct ExportRuntime {
    handle: Handle,
    _stop: oneshot::Sender<()>,
}

impl ExportRuntime {
    pub(crate) fn start() -> std::io::Result<Self> {
        let (handle_tx, handle_rx) = std_mpsc::sync_channel(1);
        let (stop, stop_rx) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("octollm-telemetry-export".into())
            .spawn(move || {
                let _no_self_telemetry = tracing::dispatcher::set_default(&Dispatch::none());
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => {
                        let _ = handle_tx.send(Ok(runtime.handle().clone()));
                        // Runs the spawned export tasks until the handle is dropped.
                        let _ = runtime.block_on(stop_rx);
                    }
                    Err(e) => {
                        let _ = handle_tx.send(Err(e));
                    }
                }
            })?;
        let handle = handle_rx
            .recv()
            .map_err(|_| std::io::Error::other("the export thread stopped at start"))??;
        Ok(Self {
            handle,
            _stop: stop,
        })
    }

    /// Runs `make` on the export thread (inside its runtime) and returns its result.
    pub(crate) fn run_on<T, F>(&self, make: F) -> Result<T, BoxError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = std_mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(make());
        });
        rx.recv()
            .map_err(|_| BoxError::from("the export thread stopped"))
    }

    /// Spawns a task on the export thread.
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.handle.spawn(task);
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }
}
