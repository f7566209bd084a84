//! A function's process, as `overtime dev` runs Lambda functions and Vercel routes alike: it
//! dies with `overtime dev`, is killed with what it started, and its output is printed under
//! its name.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Lines of a process's stderr kept for a crash report.
const STDERR_TAIL: usize = 20;

/// Kills a function's process and everything it started (its process group), as Lambda
/// discards the whole execution environment. The group is signalled only while the process is
/// not yet reaped: until then its id cannot name another process's group.
pub(crate) fn kill_tree(child: &mut Child) {
    if let Some(pid) = child
        .id()
        .and_then(|id| rustix::process::Pid::from_raw(id as i32))
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.start_kill();
}

/// A command for a function binary that dies with `overtime dev`, even by SIGKILL.
///
/// On Linux it goes through util-linux's `setpriv --pdeathsig KILL`: the parent-death signal
/// needs a `prctl` between fork and exec, which this crate's safe code cannot make, and
/// setpriv makes it and then execs the binary, so the process is the binary itself. The signal
/// follows the thread that started the process; `overtime dev` runs on one thread. Without
/// setpriv (or on other systems) the binary is started directly, and is stopped on a clean
/// shutdown only.
pub(crate) fn child_command(binary: &std::path::Path) -> Command {
    static SETPRIV: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let setpriv = SETPRIV.get_or_init(|| {
        cfg!(target_os = "linux")
            .then(|| {
                ["/usr/bin/setpriv", "/bin/setpriv"]
                    .into_iter()
                    .map(PathBuf::from)
                    .find(|p| p.is_file())
            })
            .flatten()
    });
    let mut cmd = match setpriv {
        Some(setpriv) => {
            let mut cmd = Command::new(setpriv);
            cmd.args(["--pdeathsig", "KILL", "--"]).arg(binary);
            cmd
        }
        None => Command::new(binary),
    };
    // Its own process group, so that a kill takes what it started too (see `kill_tree`), and
    // the terminal's Ctrl-C goes to `overtime dev`, which stops the functions itself.
    cmd.process_group(0);
    cmd
}

/// Prints a function's output line by line, prefixed with its name, until the stream ends;
/// keeps the last lines in `tail`. Any bytes go: a line that is not UTF-8 is printed with
/// replacement characters rather than ending the forwarding (which would break the
/// function's next write).
pub(crate) async fn forward(
    name: String,
    stream: impl tokio::io::AsyncRead + Unpin,
    tail: Option<Arc<Mutex<std::collections::VecDeque<String>>>>,
) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let line = String::from_utf8_lossy(text).into_owned();
        println!("  {name} | {line}");
        if let Some(tail) = &tail {
            let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
            if t.len() == STDERR_TAIL {
                t.pop_front();
            }
            t.push_back(line);
        }
    }
}
