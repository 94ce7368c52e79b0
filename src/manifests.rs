//! The reference Kubernetes monitoring stack, embedded at compile time.
//!
//! Every file under the repository's `monitoring/` folder is compiled into the crate, so an
//! operator deploys exactly the stack the services were instrumented for:
//!
//! ```
//! for file in octollm_telemetry::manifests::list() {
//!     assert!(!file.path.starts_with('/'));
//! }
//! let top = octollm_telemetry::manifests::get("kustomization.yaml");
//! assert!(top.is_some());
//! ```

use include_dir::{include_dir, Dir, DirEntry};

static MONITORING: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/monitoring");

/// One embedded file of the monitoring stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Manifest {
    /// Path relative to the stack's root, with `/` separators (`prometheus/prometheus.yml`).
    pub path: &'static str,
    /// The file's bytes, exactly as in the repository.
    pub contents: &'static [u8],
}

impl Manifest {
    /// The contents as UTF-8 text, or `None` for a file that is not valid UTF-8.
    pub fn text(&self) -> Option<&'static str> {
        std::str::from_utf8(self.contents).ok()
    }
}

/// Every embedded file, sorted by path.
pub fn list() -> Vec<Manifest> {
    let mut out = Vec::new();
    collect(&MONITORING, &mut out);
    out.sort_by(|a, b| a.path.cmp(b.path));
    out
}

/// The embedded file at `path` (relative to the stack's root, `/`-separated), if any.
pub fn get(path: &str) -> Option<Manifest> {
    let file = MONITORING.get_file(path.trim_start_matches("./"))?;
    Some(Manifest {
        path: file.path().to_str()?,
        contents: file.contents(),
    })
}

fn collect(dir: &'static Dir<'static>, out: &mut Vec<Manifest>) {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(sub) => collect(sub, out),
            DirEntry::File(file) => {
                if let Some(path) = file.path().to_str() {
                    out.push(Manifest {
                        path,
                        contents: file.contents(),
                    });
                }
            }
        }
    }
}
