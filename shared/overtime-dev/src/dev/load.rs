//! Reading the declarations: `infra/overtime.toml`, `vercel.json` (its crons and its routes'
//! `maxDuration`), and the `.env` files Vercel's CLI pulls.

use super::{DECLARATION, DevError, VERCEL_JSON};
use overtime::config::{Declaration, VercelConfig};
use std::path::Path;
use std::time::Duration;

/// Vercel's default `maxDuration` (seconds) for a route vercel.json does not configure.
const VERCEL_DEFAULT_MAX_DURATION: u64 = 300;

/// `vercel.json`: its crons, and the whole file (for `functions.*.maxDuration`).
pub type Vercel = (VercelConfig, serde_json::Value);

/// Reads both files; `None` for a file that does not exist.
pub fn load(root: &Path) -> Result<(Option<Declaration>, Option<Vercel>), DevError> {
    let decl_path = root.join(DECLARATION);
    let declaration = if decl_path.exists() {
        let text = overtime::config::read_file(&decl_path)?;
        let (d, warnings) = Declaration::parse(DECLARATION, &text)?;
        for w in warnings {
            eprintln!("{w}");
        }
        Some(d)
    } else {
        None
    };
    let vercel_path = root.join(VERCEL_JSON);
    let vercel = if vercel_path.exists() {
        let text = overtime::config::read_file(&vercel_path)?;
        let (v, warnings) = VercelConfig::parse(VERCEL_JSON, &text)?;
        for w in warnings {
            eprintln!("{w}");
        }
        let raw: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        Some((v, raw))
    } else {
        None
    };
    if declaration.is_none() && vercel.is_none() {
        return Err(DevError::NoProject(root.to_path_buf()));
    }
    Ok((declaration, vercel))
}

/// The binary a Vercel cron path runs: its last segment (`/api/cron/drain` → `drain`).
pub fn route_binary(path: &str) -> String {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A route's `maxDuration` from vercel.json's `functions` globs (`api/cron/*.rs`).
pub(super) fn max_duration(raw: &serde_json::Value, path: &str) -> Duration {
    let file = format!("{}.rs", path.trim_start_matches('/'));
    let secs = raw["functions"]
        .as_object()
        .and_then(|fns| {
            fns.iter()
                .find(|(glob, _)| glob_match(glob, &file))
                .and_then(|(_, f)| f["maxDuration"].as_u64())
        })
        .unwrap_or(VERCEL_DEFAULT_MAX_DURATION);
    Duration::from_secs(secs)
}

/// `*` matches within one path segment, `**` across them.
fn glob_match(glob: &str, path: &str) -> bool {
    fn go(g: &[u8], p: &[u8]) -> bool {
        match (g.first(), p.first()) {
            (None, None) => true,
            (Some(b'*'), _) if g.get(1) == Some(&b'*') => {
                (0..=p.len()).any(|i| go(&g[2..], &p[i..]))
            }
            (Some(b'*'), _) => (0..=p.len())
                .take_while(|&i| i == 0 || p[i - 1] != b'/')
                .any(|i| go(&g[1..], &p[i..])),
            (Some(a), Some(b)) if a == b => go(&g[1..], &p[1..]),
            _ => false,
        }
    }
    go(glob.as_bytes(), path.as_bytes())
}

/// `KEY=VALUE` lines of `.env.local` then `.env` (Vercel's `vercel env pull` files).
pub(super) fn dotenv(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in [".env", ".env.local"] {
        let Ok(text) = std::fs::read_to_string(root.join(f)) else {
            continue;
        };
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.trim_start_matches("export ").split_once('=') {
                out.push((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vercel_globs_and_routes() {
        assert!(glob_match("api/cron/*.rs", "api/cron/drain.rs"));
        assert!(!glob_match("api/cron/*.rs", "api/cron/x/drain.rs"));
        assert!(glob_match("api/**/*.rs", "api/cron/x/drain.rs"));
        assert!(!glob_match("api/signup.rs", "api/cron/drain.rs"));
        assert_eq!(route_binary("/api/cron/drain"), "drain");
        let raw = serde_json::json!({"functions": {"api/cron/*.rs": {"maxDuration": 60}}});
        assert_eq!(
            max_duration(&raw, "/api/cron/drain"),
            Duration::from_secs(60)
        );
        assert_eq!(
            max_duration(&raw, "/api/other"),
            Duration::from_secs(VERCEL_DEFAULT_MAX_DURATION)
        );
    }
}
