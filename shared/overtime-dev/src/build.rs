//! Building the function binaries with cargo; one that fails is reported, the rest run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::Command;

/// The binaries that are ready, and why the others are not.
#[derive(Debug, Default)]
pub struct Built {
    /// Binary name → path.
    pub binaries: BTreeMap<String, PathBuf>,
    /// Binary name → why it is not available.
    pub failed: BTreeMap<String, String>,
}

/// Prebuilt binaries from `dir`.
pub fn prebuilt(dir: &Path, wanted: &[String]) -> Built {
    let mut built = Built::default();
    for name in wanted {
        let path = dir.join(name);
        if path.is_file() {
            built.binaries.insert(name.clone(), path);
        } else {
            built
                .failed
                .insert(name.clone(), format!("no binary {}", path.display()));
        }
    }
    built
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

async fn target_dir(root: &Path) -> PathBuf {
    let out = Command::new(cargo())
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root)
        .stderr(Stdio::null())
        .output()
        .await;
    out.ok()
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
        .and_then(|m| m["target_directory"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| root.join("target"))
}

/// `cargo build --bin …` for every wanted binary at once; if that fails, each on its own, so
/// one broken function does not keep the others from running.
pub async fn cargo_build(root: &Path, wanted: &[String], release: bool) -> Built {
    let mut built = Built::default();
    if wanted.is_empty() {
        return built;
    }
    let profile = if release { "release" } else { "debug" };
    let dir = target_dir(root).await.join(profile);
    let build = |bins: &[String], quiet: bool| {
        let mut cmd = Command::new(cargo());
        cmd.arg("build").current_dir(root);
        if release {
            cmd.arg("--release");
        }
        for b in bins {
            cmd.args(["--bin", b]);
        }
        if quiet {
            cmd.arg("--quiet")
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
        }
        cmd
    };
    eprintln!("overtime dev: building {}", wanted.join(", "));
    let together = build(wanted, false).status().await;
    let ok_together = together.as_ref().is_ok_and(|s| s.success());
    for name in wanted {
        let result = if ok_together {
            Ok(())
        } else {
            match build(std::slice::from_ref(name), true).output().await {
                Ok(o) if o.status.success() => Ok(()),
                Ok(o) => {
                    let err = String::from_utf8_lossy(&o.stderr);
                    let first = err
                        .lines()
                        .find(|l| l.starts_with("error"))
                        .unwrap_or("cargo build failed")
                        .to_owned();
                    Err(format!("cargo build --bin {name} failed: {first}"))
                }
                Err(e) => Err(format!("cannot run cargo: {e}")),
            }
        };
        match result {
            Ok(()) => {
                built.binaries.insert(name.clone(), dir.join(name));
            }
            Err(why) => {
                built.failed.insert(name.clone(), why);
            }
        }
    }
    built
}
