//! Any text as infra/overtime.toml or vercel.json: a diagnostic or a declaration, never a panic,
//! and every diagnostic points inside the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use overtime::config::{Declaration, VercelConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let lines = text.lines().count().max(1);
    let results = [
        Declaration::parse("overtime.toml", text).err(),
        VercelConfig::parse("vercel.json", text).err(),
    ];
    for err in results.into_iter().flatten() {
        for d in err.diagnostics {
            assert!(d.line >= 1 && d.line <= lines + 1, "{d} is outside {lines} line(s)");
            assert!(d.column >= 1, "{d}");
        }
    }
});
