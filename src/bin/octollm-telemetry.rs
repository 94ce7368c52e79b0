//! `octollm-telemetry`: the command-line companion of the crate.
//!
//! It lists and exports the Kubernetes monitoring stack embedded in the crate (the repository's
//! `monitoring/` folder), so an operator deploys exactly the stack the services were built for:
//!
//! ```text
//! octollm-telemetry manifests list
//! octollm-telemetry manifests export --out ./monitoring
//! kubectl apply -k ./monitoring
//! ```
//!
//! `export` never overwrites a file whose contents differ from the embedded one unless
//! `--force` is given; in that case it writes nothing at all and names the files that differ.
//! Exit status: 0 on success, 1 on an I/O error or a refused export, 2 on bad arguments.

#![warn(missing_docs)]

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use octollm_telemetry::manifests::{self, Manifest};

/// Lists and exports the OctoLLM monitoring stack embedded in this build.
#[derive(Debug, Parser)]
#[command(name = "octollm-telemetry", version)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
enum Command {
    /// The Kubernetes monitoring stack (Prometheus, Alertmanager, Grafana, Loki, Alloy, Jaeger).
    #[command(subcommand)]
    Manifests(ManifestsCommand),
}

/// `manifests` subcommands.
#[derive(Debug, Subcommand)]
enum ManifestsCommand {
    /// Print the path of every embedded file, one per line.
    List,
    /// Write the stack into a directory, ready for `kubectl apply -k DIR`.
    Export(ExportArgs),
}

/// Arguments of `manifests export`.
#[derive(Debug, Args)]
struct ExportArgs {
    /// Directory to write into; created if it does not exist.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Overwrite files whose contents differ from the embedded ones.
    #[arg(long)]
    force: bool,
}

/// Why a command failed; printed as `error: ...` on stderr, exit status 1.
#[derive(Debug)]
enum Failure {
    /// An I/O operation on `path` failed.
    Io {
        /// What was being done, for example "write".
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Existing files differ from the embedded ones and `--force` was not given.
    Conflicts(Vec<PathBuf>),
    /// An embedded path would land outside the output directory (never true for a sound build).
    UnsafePath(&'static str),
    /// Writing to stdout failed for a reason other than a closed pipe.
    Stdout(io::Error),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Io {
                action,
                path,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            Failure::Conflicts(paths) => {
                write!(
                    f,
                    "{} existing file(s) differ from the embedded stack; nothing was written \
                     (rerun with --force to overwrite them):",
                    paths.len()
                )?;
                for path in paths {
                    write!(f, "\n  {}", path.display())?;
                }
                Ok(())
            }
            Failure::UnsafePath(path) => {
                write!(f, "embedded path {path:?} is not a plain relative path")
            }
            Failure::Stdout(err) => write!(f, "cannot write to standard output: {err}"),
        }
    }
}

/// What `export` does with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// The file does not exist yet.
    Write,
    /// The file exists with the same contents: left as it is.
    Unchanged,
    /// The file exists with other contents and `--force` was given.
    Overwrite,
}

impl Action {
    /// The word printed before the file's path.
    fn label(self) -> &'static str {
        match self {
            Action::Write => "written",
            Action::Unchanged => "unchanged",
            Action::Overwrite => "overwritten",
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Manifests(ManifestsCommand::List) => list(),
        Command::Manifests(ManifestsCommand::Export(args)) => export(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Stdout(err)) if err.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::FAILURE
        }
    }
}

/// `manifests list`: one embedded path per line.
fn list() -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    for manifest in manifests::list() {
        writeln!(out, "{}", manifest.path).map_err(Failure::Stdout)?;
    }
    out.flush().map_err(Failure::Stdout)
}

/// `manifests export`: plans every file first, refuses on conflicts, then writes.
fn export(args: &ExportArgs) -> Result<(), Failure> {
    let files = manifests::list();
    let mut plan = Vec::with_capacity(files.len());
    let mut conflicts = Vec::new();
    for manifest in &files {
        let target = target_path(&args.out, manifest)?;
        let action = match fs::read(&target) {
            Ok(existing) if existing == manifest.contents => Action::Unchanged,
            Ok(_) if args.force => Action::Overwrite,
            Ok(_) => {
                conflicts.push(target.clone());
                Action::Overwrite
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => Action::Write,
            Err(source) => {
                return Err(Failure::Io {
                    action: "read",
                    path: target,
                    source,
                })
            }
        };
        plan.push((manifest, target, action));
    }
    if !conflicts.is_empty() {
        return Err(Failure::Conflicts(conflicts));
    }

    let mut out = io::stdout().lock();
    let (mut written, mut unchanged, mut overwritten) = (0usize, 0usize, 0usize);
    for (manifest, target, action) in &plan {
        if *action != Action::Unchanged {
            write_file(target, manifest.contents)?;
        }
        match action {
            Action::Write => written += 1,
            Action::Unchanged => unchanged += 1,
            Action::Overwrite => overwritten += 1,
        }
        writeln!(out, "{:<11} {}", action.label(), target.display()).map_err(Failure::Stdout)?;
    }
    writeln!(
        out,
        "exported {} files to {}: {written} written, {unchanged} unchanged, {overwritten} overwritten",
        plan.len(),
        args.out.display()
    )
    .map_err(Failure::Stdout)?;
    out.flush().map_err(Failure::Stdout)
}

/// Where `manifest` goes under `out`, refusing absolute paths and `..` components.
fn target_path(out: &Path, manifest: &Manifest) -> Result<PathBuf, Failure> {
    let relative = Path::new(manifest.path);
    let plain = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    if !plain || manifest.path.is_empty() {
        return Err(Failure::UnsafePath(manifest.path));
    }
    Ok(out.join(relative))
}

/// Writes `contents` to `path`, creating its parent directories.
fn write_file(path: &Path, contents: &[u8]) -> Result<(), Failure> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|source| Failure::Io {
            action: "create directory",
            path: parent.to_path_buf(),
            source,
        })?;
    }
    fs::write(path, contents).map_err(|source| Failure::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}
