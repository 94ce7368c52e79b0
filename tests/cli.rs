//! The `octollm-telemetry` binary: `manifests list` and `manifests export`.
//!
//! Runs the built binary (`cargo test --features cli --test cli`).
#![cfg(feature = "cli")]

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use octollm_telemetry::manifests;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_octollm-telemetry"))
        .args(args)
        .output()
        .expect("run octollm-telemetry")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

fn export(out: &Path, force: bool) -> Output {
    let out = out.to_str().expect("temp path is UTF-8");
    let mut args = vec!["manifests", "export", "--out", out];
    if force {
        args.push("--force");
    }
    run(&args)
}

/// Lines of `export` output that start with `word`, as paths relative to `out`.
fn files_marked(output: &str, word: &str, out: &Path) -> Vec<String> {
    output
        .lines()
        .filter_map(|line| line.strip_prefix(word))
        .map(|rest| {
            let path = Path::new(rest.trim());
            path.strip_prefix(out)
                .unwrap_or(path)
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect()
}

fn embedded_paths() -> Vec<String> {
    manifests::list()
        .iter()
        .map(|m| m.path.to_string())
        .collect()
}

#[test]
fn list_prints_every_embedded_path_in_order() {
    let output = run(&["manifests", "list"]);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let listed: Vec<String> = stdout(&output).lines().map(str::to_string).collect();
    assert_eq!(listed, embedded_paths());
    assert!(listed.iter().any(|p| p == "kustomization.yaml"));
}

#[test]
fn export_into_an_empty_directory_writes_every_file_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("stack");
    let output = export(&out, false);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let text = stdout(&output);

    assert_eq!(files_marked(&text, "written", &out), embedded_paths());
    for manifest in manifests::list() {
        let written = fs::read(out.join(manifest.path))
            .unwrap_or_else(|e| panic!("read {}: {e}", manifest.path));
        assert!(
            written == manifest.contents,
            "{} differs from the embedded file",
            manifest.path
        );
    }
    let n = manifests::list().len();
    assert!(
        text.contains(&format!("{n} written, 0 unchanged, 0 overwritten")),
        "summary missing: {text}"
    );
}

#[test]
fn a_second_export_reports_every_file_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(export(dir.path(), false).status.success());
    let output = export(dir.path(), false);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let text = stdout(&output);
    assert_eq!(
        files_marked(&text, "unchanged", dir.path()),
        embedded_paths()
    );
    assert!(files_marked(&text, "written", dir.path()).is_empty());
    let n = manifests::list().len();
    assert!(text.contains(&format!("0 written, {n} unchanged, 0 overwritten")));
}

#[test]
fn a_modified_file_is_refused_without_force_and_overwritten_with_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(export(dir.path(), false).status.success());
    let target = dir.path().join("kustomization.yaml");
    fs::write(&target, b"# local edit\n").expect("modify a file");
    let removed = dir.path().join("README.md");
    fs::remove_file(&removed).expect("remove a file");

    let refused = export(dir.path(), false);
    assert!(!refused.status.success(), "export must refuse");
    assert_eq!(refused.status.code(), Some(1));
    let err = stderr(&refused);
    assert!(err.contains("--force"), "message names --force: {err}");
    assert!(
        err.contains("kustomization.yaml"),
        "message names the file: {err}"
    );
    assert_eq!(fs::read(&target).expect("read"), b"# local edit\n");
    assert!(!removed.exists(), "a refused export writes nothing");

    let forced = export(dir.path(), true);
    assert!(forced.status.success(), "stderr: {}", stderr(&forced));
    let text = stdout(&forced);
    assert_eq!(
        files_marked(&text, "overwritten", dir.path()),
        ["kustomization.yaml"]
    );
    assert_eq!(files_marked(&text, "written", dir.path()), ["README.md"]);
    let embedded = manifests::get("kustomization.yaml").expect("embedded");
    assert_eq!(fs::read(&target).expect("read"), embedded.contents);
}

#[test]
fn export_without_out_is_a_usage_error() {
    let output = run(&["manifests", "export"]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("--out"), "clap names the missing flag: {err}");
}

#[test]
fn an_unknown_subcommand_is_a_usage_error() {
    let output = run(&["manifests", "frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn an_output_path_that_is_a_file_is_an_io_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("not-a-dir");
    fs::write(&file, b"x").expect("write");
    let output = export(&file, false);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
