//! Evidence that a provider shut down cleanly once terraform exited: which entries appeared in a directory
//! (inotify, so a socket that existed only while terraform ran is still seen), which processes still carry a
//! test's marker variable, and go-plugin's own lifecycle lines from `TF_LOG=DEBUG` output.
//! Linux only, like the rest of the suite; it observes and never kills anything.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use regex::Regex;

/// An inotify watch on one directory, recording the names created in it (not recursive).
#[derive(Debug)]
pub struct DirWatch {
    fd: OwnedFd,
    dir: PathBuf,
    seen: Vec<String>,
}

impl DirWatch {
    /// Starts watching `dir` for entries created or moved into it.
    pub fn new(dir: &Path) -> io::Result<Self> {
        // SAFETY: inotify_init1 takes flags only and returns a new descriptor or -1.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let path = CString::new(dir.as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: `fd` is a live inotify descriptor and `path` a NUL-terminated string that outlives the call.
        let wd = unsafe {
            libc::inotify_add_watch(
                fd.as_raw_fd(),
                path.as_ptr(),
                libc::IN_CREATE | libc::IN_MOVED_TO,
            )
        };
        if wd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(DirWatch {
            fd,
            dir: dir.to_path_buf(),
            seen: Vec::new(),
        })
    }

    /// Every name created in the directory since the watch began, in order (reads the pending events).
    pub fn created(&mut self) -> io::Result<&[String]> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: `buf` is writable for its whole length and `fd` is a live descriptor.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::WouldBlock {
                    break;
                }
                return Err(err);
            }
            let n = usize::try_from(n).unwrap_or(0);
            if n == 0 {
                break;
            }
            self.seen.extend(parse_events(&buf[..n]));
        }
        Ok(&self.seen)
    }

    /// Created names that still exist now.
    pub fn leftovers(&mut self) -> io::Result<Vec<String>> {
        let dir = self.dir.clone();
        Ok(self
            .created()?
            .iter()
            .filter(|n| dir.join(n).symlink_metadata().is_ok())
            .cloned()
            .collect())
    }
}

/// Decodes a buffer of `struct inotify_event` records into the names they carry.
fn parse_events(mut buf: &[u8]) -> Vec<String> {
    const HEADER: usize = 16; // wd, mask, cookie, len: four 32-bit fields.
    let mut names = Vec::new();
    while buf.len() >= HEADER {
        let len = u32::from_ne_bytes([buf[12], buf[13], buf[14], buf[15]]) as usize;
        let Some(name) = buf.get(HEADER..HEADER + len) else {
            break;
        };
        let name = name.split(|b| *b == 0).next().unwrap_or_default();
        if !name.is_empty() {
            names.push(String::from_utf8_lossy(name).into_owned());
        }
        buf = &buf[HEADER + len..];
    }
    names
}

/// Live processes whose environment holds `PVEHA_ACC_MARKER=<marker>`: `(pid, command line)`.
pub fn processes_with_marker(marker: &str) -> Vec<(u32, String)> {
    let wanted = format!("PVEHA_ACC_MARKER={marker}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // A process may exit between listing and reading, or be unreadable: neither is ours to report.
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ
            .split(|b| *b == 0)
            .any(|var| var == wanted.as_bytes())
        {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push((pid, cmdline.trim_end().to_string()));
        }
    }
    found
}

/// What go-plugin (inside terraform) logged about provider processes, from `TF_LOG=DEBUG` stderr.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginLifecycle {
    /// `(path, pid)` of every `plugin started` line.
    pub started: Vec<(String, u32)>,
    /// `(pid, error)` of every `plugin process exited` line; `error` is set when the exit was not status 0.
    pub exited: Vec<(u32, Option<String>)>,
    /// How many times go-plugin gave up waiting and killed a plugin (`plugin failed to exit gracefully`).
    pub forced_kills: usize,
}

impl PluginLifecycle {
    /// Reads the lifecycle lines out of terraform's debug log.
    pub fn parse(log: &str) -> Self {
        let mut life = PluginLifecycle::default();
        let (Ok(started), Ok(exited)) = (
            Regex::new(r"plugin started: path=(\S+) pid=(\d+)"),
            // Terraform 1.0 logs `path=… pid=…`; newer go-plugin versions log `plugin=… id=…`.
            Regex::new(
                r#"plugin process exited: (?:path|plugin)=(\S+) (?:pid|id)=(\d+)(?: error="?([^"\n]*))?"#,
            ),
        ) else {
            return life;
        };
        for c in started.captures_iter(log) {
            if let Ok(pid) = c[2].parse() {
                life.started.push((c[1].to_string(), pid));
            }
        }
        for c in exited.captures_iter(log) {
            if let Ok(pid) = c[2].parse() {
                life.exited
                    .push((pid, c.get(3).map(|m| m.as_str().to_string())));
            }
        }
        life.forced_kills = log.matches("plugin failed to exit gracefully").count();
        life
    }

    /// Started pids whose provider path contains `needle` (e.g. `terraform-provider-pvehatest`).
    pub fn started_matching(&self, needle: &str) -> Vec<u32> {
        self.started
            .iter()
            .filter(|(path, _)| path.contains(needle))
            .map(|(_, pid)| *pid)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_lines_are_read() {
        let log = "2025-01-01T00:00:00.000Z [DEBUG] provider: plugin started: path=.terraform/providers/registry.terraform.io/pveha/pvehatest/0.1.0/linux_amd64/terraform-provider-pvehatest_v0.1.0 pid=4242\n\
                   2025-01-01T00:00:01.000Z [DEBUG] provider: plugin process exited: path=.terraform/x pid=4242\n\
                   2025-01-01T00:00:01.000Z [WARN]  provider: plugin failed to exit gracefully\n\
                   2025-01-01T00:00:01.000Z [DEBUG] provider: plugin process exited: path=.terraform/y pid=77 error=\"signal: killed\"\n\
                   2025-01-01T00:00:02.000Z [INFO]  provider: plugin process exited: plugin=.terraform/z id=88\n";
        let life = PluginLifecycle::parse(log);
        assert_eq!(life.started_matching("pvehatest"), [4242]);
        assert_eq!(
            life.exited,
            [
                (4242, None),
                (77, Some("signal: killed".into())),
                (88, None)
            ]
        );
        assert_eq!(life.forced_kills, 1);
    }

    #[test]
    fn watch_sees_entries_that_came_and_went() {
        let dir = tempfile::tempdir().unwrap();
        let mut watch = DirWatch::new(dir.path()).unwrap();
        std::fs::write(dir.path().join("kept"), "").unwrap();
        std::fs::write(dir.path().join("gone"), "").unwrap();
        std::fs::remove_file(dir.path().join("gone")).unwrap();
        assert_eq!(watch.created().unwrap(), ["kept", "gone"]);
        assert_eq!(watch.leftovers().unwrap(), ["kept"]);
    }

    #[test]
    fn marked_processes_are_found_and_unmarked_ones_are_not() {
        let marker = format!("unit-{}", std::process::id());
        // The shell answers only once it runs, so its environment is in /proc by then (right after exec the
        // kernel may not have published it yet).
        let mut child = std::process::Command::new("sh")
            .args(["-c", "echo ready; read line"])
            .env("PVEHA_ACC_MARKER", &marker)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut ready,
        )
        .unwrap();
        assert_eq!(ready, "ready\n");
        let found = processes_with_marker(&marker);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, child.id());
        assert!(processes_with_marker(&marker).is_empty());
    }
}
