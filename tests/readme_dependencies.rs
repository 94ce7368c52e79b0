//! The README as a contract: its `[dependencies]` block, copied into a fresh crate (with the
//! path pointing at this checkout), builds every Rust snippet of the README, exactly as
//! written. The README's snippets are also compiled as doc tests of the crate (`src/lib.rs`).

use std::fs;
use std::path::Path;
use std::process::Command;

const FENCE: &str = "```";

/// The code blocks of `markdown` whose info string starts with `lang`.
fn blocks<'a>(markdown: &'a str, lang: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = markdown;
    while let Some(start) = rest.find(FENCE) {
        let after = &rest[start + FENCE.len()..];
        let Some(newline) = after.find('\n') else {
            break;
        };
        let info = &after[..newline];
        let body = &after[newline + 1..];
        let Some(end) = body.find(&format!("\n{FENCE}")) else {
            break;
        };
        if info.split(',').next() == Some(lang) {
            out.push(&body[..end + 1]);
        }
        rest = &body[end + 1 + FENCE.len()..];
    }
    out
}

#[test]
fn the_readme_dependency_block_builds_every_snippet_in_a_fresh_crate() {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = fs::read_to_string(checkout.join("README.md")).unwrap();
    let dependencies = blocks(&readme, "toml")
        .into_iter()
        .find(|b| b.starts_with("[dependencies]"))
        .expect("a [dependencies] block in the README");
    let snippets = blocks(&readme, "rust");
    assert!(
        snippets.len() >= 4,
        "the README's Rust snippets: {}",
        snippets.len()
    );
    for snippet in &snippets {
        assert!(
            !snippet.lines().any(|l| l.starts_with("# ")),
            "no hidden lines, which show as text on a rendered page:\n{snippet}"
        );
    }

    let ours = "octollm-telemetry = { path = \"../octollm-telemetry\" }";
    assert!(dependencies.contains(ours), "{dependencies}");
    let dependencies = dependencies.replace(
        ours,
        &format!(
            "octollm-telemetry = {{ path = {:?} }}",
            checkout.display().to_string()
        ),
    );
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme-user");
    let _ = fs::remove_dir_all(dir.join("examples"));
    fs::create_dir_all(dir.join("examples")).unwrap();
    fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"readme-user\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[workspace]\n\n{dependencies}"
        ),
    )
    .unwrap();
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(dir.join("src/lib.rs"), "").unwrap();
    for (i, snippet) in snippets.iter().enumerate() {
        fs::write(dir.join(format!("examples/snippet_{i}.rs")), snippet).unwrap();
    }
    // The checkout's lock file: the same versions as the crate is tested with.
    fs::copy(checkout.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["check", "--examples", "--quiet"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the README's snippets do not build with its [dependencies] block:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
